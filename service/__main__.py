"""`python -m service COMMAND`: the command line, which lives in cli/."""
from cli.__main__ import main

if __name__ == "__main__":
    main()
