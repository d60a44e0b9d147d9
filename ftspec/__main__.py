from ftspec.cli import main

main()
