"""`python -m resource_pool` is the same as the `pool` command."""

from resource_pool.i18n import main

main()
