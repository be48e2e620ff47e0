"""Pure readings of one cell: the process's RSS and peaks and one cell's measurement
(:mod:`.cell`), the statement ledger and the light snapshot of the names a cell mentions
(:mod:`.ledger`), object counts by type (:mod:`.type_counts`) and value sizes (:mod:`.sizes`).
No IPython, no comm."""
