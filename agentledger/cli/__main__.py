"""`python -m agentledger.cli`: the same as the `agentledger` console script."""

import sys

from agentledger.cli import main

sys.exit(main())
