import sys

from trackkit.cli import main

sys.exit(main())
