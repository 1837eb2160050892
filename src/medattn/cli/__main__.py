from medattn.cli.app import main

main()
