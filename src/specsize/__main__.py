from specsize.cli import main

main()
