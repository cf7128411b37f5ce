# One brms fit for bench/brms_families.py:
#   Rscript bench/brms_families.R data.csv FORMULA FAMILY PRIORS out.csv [fitted]
# FORMULA may hold several formulas separated by ";" (the mean's first, then e.g. "zi ~ z").
# FAMILY and PRIORS are R expressions (e.g. "weibull()", "c(prior(normal(0, 2), class = b))").
# Writes posterior_summary() to out.csv (and with "fitted" brms's fitted() to
# out.csv.fitted.csv) and prints the divergent transitions and seconds.
args <- commandArgs(TRUE)
suppressMessages(library(brms))
d <- read.csv(args[1])
t0 <- Sys.time()
# "y ~ x; zi ~ z": a formula per distributional parameter (brms's bf())
parts <- trimws(strsplit(args[2], ";", fixed = TRUE)[[1]])
form <- if (length(parts) > 1) do.call(bf, lapply(parts, as.formula)) else as.formula(parts[1])
fit <- brm(form, data = d, family = eval(parse(text = args[3])),
           prior = eval(parse(text = args[4])), chains = 4, iter = 2000, seed = 1,
           refresh = 0, cores = 2, silent = 2)
np <- nuts_params(fit)
write.csv(posterior_summary(fit), args[5])
if (length(args) > 5 && args[6] == "fitted") write.csv(fitted(fit), paste0(args[5], ".fitted.csv"))
cat("divergences", sum(np$Value[np$Parameter == "divergent__"]), "\n")
cat("seconds", as.numeric(difftime(Sys.time(), t0, units = "secs")), "\n")
