"""`python -m tandem.daemon` runs tandemd."""

import sys

from tandem.daemon.main import main

sys.exit(main())
