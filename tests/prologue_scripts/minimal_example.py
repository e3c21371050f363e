# The prologue's "minimal example" from the EE-559 practical page, unchanged.
import dlc_practical_prologue as prologue

train_input, train_target, test_input, test_target = prologue.load_data()

print("train_input", train_input.size(), "train_target", train_target.size())
print("test_input", test_input.size(), "test_target", test_target.size())
