import sys

from hybrid_studio.cli import main

sys.exit(main())
