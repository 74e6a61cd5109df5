# llm-sandbox plot capture for R: loaded through R_PROFILE_USER when a run captures plots, and by the
# kernel (llm_sandbox_kernel.R), which captures the plots of each cell.
#
# Every graphics device R opens by default (base graphics, lattice, printing a ggplot) is a PNG device
# writing into a private folder of the plots directory; when the run ends (R exits) or the cell ends,
# the pages are renamed, in the order they were drawn, to NNN-<width>x<height>-<dpi>.png, the names the
# host reads back (the same convention as runtime/python/llm_sandbox_capture.py). Files written by
# ggplot2's ggsave() are captured too, after the drawn pages, in the format they were saved in.
# Devices the code opens itself (png(), pdf()) write where the code says. At most LLM_SANDBOX_MAX_PLOTS
# pages of at most LLM_SANDBOX_MAX_PLOT_BYTES each are written (the host enforces the real limits);
# what is dropped is reported on stderr.
.llm_sandbox_capture <- local({
    state <- new.env()
    state$plots_dir <- ""
    state$devices <- list()
    state$saved <- character()

    # ggsave() is wrapped when ggplot2 loads (before it is attached, so library(ggplot2) exports the wrapper).
    setHook(packageEvent("ggplot2", "onLoad"), function(...) {
        namespace <- asNamespace("ggplot2")
        original <- get("ggsave", envir = namespace)
        wrapper <- function(filename, ...) {
            result <- original(filename, ...)
            if (nzchar(state$plots_dir) && file.exists(filename)) {
                state$saved <- c(state$saved, normalizePath(filename))
            }
            invisible(result)
        }
        unlockBinding("ggsave", namespace)
        assign("ggsave", wrapper, envir = namespace)
        lockBinding("ggsave", namespace)
    })

    device <- function(width = 7, height = 5, res = 100, ...) {
        index <- length(state$devices) + 1L
        folder <- file.path(state$plots_dir, sprintf(".device-%03d", index))
        dir.create(folder, showWarnings = FALSE, recursive = TRUE)
        state$devices[[index]] <- list(folder = folder, width = round(width * res),
                                       height = round(height * res), res = round(res))
        grDevices::png(file.path(folder, "page-%04d.png"), width = width, height = height,
                       units = "in", res = res, type = "cairo")
    }

    # Plots drawn from now on are captured into `plots_dir`.
    start <- function(plots_dir) {
        state$plots_dir <- plots_dir
        state$devices <- list()
        state$saved <- character()
        options(device = device)
    }

    # Close the devices and leave the plots, named and in order, in the plots directory.
    collect <- function(...) {
        if (!nzchar(state$plots_dir)) return(invisible(NULL))
        max_plots <- as.integer(Sys.getenv("LLM_SANDBOX_MAX_PLOTS", "50"))
        max_bytes <- as.numeric(Sys.getenv("LLM_SANDBOX_MAX_PLOT_BYTES", as.character(10 * 1024 * 1024)))
        try(grDevices::graphics.off(), silent = TRUE)
        count <- 0L
        dropped <- character()
        # keep(): file.copy for saved files (they stay where the code put them), file.rename for pages.
        keep <- function(path, ext, width, height, res, move) {
            size <- file.size(path)
            if (count >= max_plots) {
                dropped <<- c(dropped, sprintf("more than %d plots in one run", max_plots))
            } else if (is.na(size) || size > max_bytes) {
                dropped <<- c(dropped, sprintf("a %s plot of %.0f bytes: larger than %.0f bytes", ext, size, max_bytes))
            } else {
                count <<- count + 1L
                target <- file.path(state$plots_dir, sprintf("%03d-%dx%d-%d.%s", count, width, height, res, ext))
                if (move) file.rename(path, target) else file.copy(path, target)
            }
        }
        for (dev in state$devices) {
            pages <- sort(list.files(dev$folder, pattern = "^page-[0-9]+[.]png$", full.names = TRUE))
            for (page in pages) keep(page, "png", dev$width, dev$height, dev$res, move = TRUE)
            unlink(dev$folder, recursive = TRUE)
        }
        for (path in unique(state$saved)) {
            ext <- tolower(tools::file_ext(path))
            if (ext == "jpg") ext <- "jpeg"
            if (nzchar(ext)) keep(path, ext, 0L, 0L, 0L, move = FALSE)
        }
        for (reason in dropped) message("[llm-sandbox] plot not captured: ", reason)
        state$devices <- list()
        state$saved <- character()
        invisible(NULL)
    }

    plots_dir <- Sys.getenv("LLM_SANDBOX_PLOTS_DIR")
    if (nzchar(plots_dir) && dir.exists(plots_dir)) {
        start(plots_dir)
        # A run: collect when R exits (at the end of the script, on quit() and after an error).
        reg.finalizer(state, collect, onexit = TRUE)
    }
    list(start = start, collect = collect)
})
