from kestrad.cli.main import main

raise SystemExit(main())
