"""dlc's own answers to the two mini-projects, each a package laid out as a student hands
it in (``dlc check mini-framework`` / ``dlc check digit-pairs`` grade such a folder; these
two must score 100%)."""
