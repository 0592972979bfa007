"""The command line (`python -m service ...`): its commands, the HTTP client they use,
training the shipped models, and where the stack listens."""
