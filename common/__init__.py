"""The common layer: what every trainer and every check shares, with no arithmetic on the
network. Shapes, data sets, parameters, training configuration and command-line helpers,
the epoch loop and its history, the run record, atomic files, report pieces, and the process
tuning that entry points (never imports) may apply."""
