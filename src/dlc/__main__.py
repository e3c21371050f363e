from dlc.cli import entry

raise SystemExit(entry())
