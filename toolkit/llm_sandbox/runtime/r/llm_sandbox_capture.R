# llm-sandbox plot capture for R, loaded through R_PROFILE_USER when a run captures plots.
#
# Every graphics device R opens by default (base graphics, lattice, printing a ggplot) is a PNG device
# writing into a private folder of LLM_SANDBOX_PLOTS_DIR; when R exits, the pages are renamed, in the
# order they were drawn, to NNN-<width>x<height>-<dpi>.png, the names the host reads back (the same
# convention as runtime/python/llm_sandbox_capture.py). Devices the code opens itself (png(), pdf(),
# ggsave()) write where the code says. At most LLM_SANDBOX_MAX_PLOTS pages of at most
# LLM_SANDBOX_MAX_PLOT_BYTES each are kept; what is dropped is reported on stderr.
invisible(local({
    plots_dir <- Sys.getenv("LLM_SANDBOX_PLOTS_DIR")
    if (!nzchar(plots_dir) || !dir.exists(plots_dir)) return(invisible(NULL))
    max_plots <- as.integer(Sys.getenv("LLM_SANDBOX_MAX_PLOTS", "50"))
    max_bytes <- as.numeric(Sys.getenv("LLM_SANDBOX_MAX_PLOT_BYTES", as.character(10 * 1024 * 1024)))
    state <- new.env()
    state$devices <- list()

    device <- function(width = 7, height = 5, res = 100, ...) {
        index <- length(state$devices) + 1L
        folder <- file.path(plots_dir, sprintf(".device-%03d", index))
        dir.create(folder, showWarnings = FALSE)
        state$devices[[index]] <- list(folder = folder, width = round(width * res),
                                       height = round(height * res), res = round(res))
        grDevices::png(file.path(folder, "page-%04d.png"), width = width, height = height,
                       units = "in", res = res, type = "cairo")
    }

    collect <- function(...) {
        try(grDevices::graphics.off(), silent = TRUE)
        count <- 0L
        dropped <- character()
        for (dev in state$devices) {
            pages <- sort(list.files(dev$folder, pattern = "^page-[0-9]+[.]png$", full.names = TRUE))
            for (page in pages) {
                size <- file.size(page)
                if (count >= max_plots) {
                    dropped <- c(dropped, sprintf("more than %d plots in one run", max_plots))
                } else if (is.na(size) || size > max_bytes) {
                    dropped <- c(dropped, sprintf("a png plot of %.0f bytes: larger than %.0f bytes", size, max_bytes))
                } else {
                    count <- count + 1L
                    file.rename(page, file.path(plots_dir, sprintf("%03d-%dx%d-%d.png", count,
                                                                   dev$width, dev$height, dev$res)))
                }
            }
            unlink(dev$folder, recursive = TRUE)
        }
        for (reason in dropped) message("[llm-sandbox] plot not captured: ", reason)
        invisible(NULL)
    }

    options(device = device)
    # Runs when R exits: at the end of the script, on quit() and after an error.
    reg.finalizer(state, collect, onexit = TRUE)
}))
