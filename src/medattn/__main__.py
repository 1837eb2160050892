from medattn.cli import main

main()
