from contactcore.cli import main

raise SystemExit(main())
