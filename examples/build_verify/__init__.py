"""The build-verify example: stage, compile, unit-test and acceptance-check a small C program."""
