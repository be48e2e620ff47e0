"""What a history reads as: a cell's summary (:mod:`.summary`), the ``%memtrack report`` table
(:mod:`.text`), and report files (:mod:`.files`: JSON, CSV; :mod:`.html`: the HTML page).
Pure: no IPython, no comm."""
