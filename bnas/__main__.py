import sys

from bnas.cli import main

sys.exit(main())
