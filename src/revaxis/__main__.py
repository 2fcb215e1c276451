from revaxis.cli import main

main()
