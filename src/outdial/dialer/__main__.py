from outdial.cli import single_threaded_blas

single_threaded_blas()

from outdial.dialer.process import main  # noqa: E402  (numpy is imported below this point)

main()
