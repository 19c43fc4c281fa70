"""`python -m llmgateway`: the same as the `llmgateway` console script."""

import sys

from llmgateway.cli import main

sys.exit(main())
