import sys

from crm_app.cli import main

sys.exit(main())
