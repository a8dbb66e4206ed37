import sys

from labelleak.cli import main

sys.exit(main())
