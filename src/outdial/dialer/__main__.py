from outdial.dialer.process import main

main()
