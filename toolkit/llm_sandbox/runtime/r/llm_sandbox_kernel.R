# The R kernel of InteractiveSandboxSession: cells evaluated in the global environment, state kept.
#
# Started as a warm process (see runtime/python/llm_sandbox_warm.py for the wire protocol):
#   sh -c 'exec 3<&0 0</dev/null; exec "$@"' llm-sandbox stdbuf -oL -eL Rscript /opt/llm-sandbox/llm_sandbox_kernel.R
# (stdbuf: R's console output is line-buffered, so it streams as the cell prints it.) Requests
# `<size>\n<json>` arrive on fd 3; the answer is `<nonce> <code> <size>\n<json>` on stdout and
# `<nonce> \n` on stderr. Each top-level expression is evaluated and, when visible, printed as the R
# console prints it (a ggplot is drawn); errors print as R prints them and stop the cell; warnings are
# printed as they happen. Plots of the cell are captured by llm_sandbox_capture.R.
local({
    requests <- file("/dev/fd/3", open = "rb")
    artifacts_sh <- commandArgs(trailingOnly = TRUE)[2]  # runtime/artifacts.sh: the output files of a cell
    if (!exists(".llm_sandbox_capture", envir = globalenv())) {
        source("/opt/llm-sandbox/llm_sandbox_capture.R", local = globalenv())
    }
    loadNamespace("jsonlite")  # now, not in the first cell

    read_request <- function() {
        header <- readLines(requests, n = 1L, warn = FALSE)
        if (length(header) == 0L) return(NULL)
        size <- as.integer(header)
        body <- if (size > 0L) readBin(requests, "raw", size) else raw(0)
        if (length(body) < size) return(NULL)
        jsonlite::fromJSON(rawToChar(body), simplifyVector = FALSE)
    }

    reply <- function(nonce, code, payload) {
        payload <- enc2utf8(as.character(payload))
        flush(stdout())
        flush(stderr())
        cat(sprintf("%s %d %d\n", nonce, code, length(charToRaw(payload))), payload, sep = "")
        flush(stdout())
        cat(sprintf("%s \n", nonce), file = stderr())
        flush(stderr())
    }

    # The call a condition names, unless it is the kernel's own eval (R's console names none then).
    call_of <- function(condition) {
        call <- conditionCall(condition)
        if (is.null(call) || identical(call[[1L]], quote(eval))) NULL
        else paste(deparse(call, nlines = 1L), collapse = "")
    }

    describe <- function(condition, kind = "Error") {
        call <- call_of(condition)
        if (is.null(call)) sprintf("%s: %s\n", kind, conditionMessage(condition))
        else sprintf("%s in %s : %s\n", kind, call, conditionMessage(condition))
    }

    warn <- function(w) {
        cat(describe(w, "Warning"), file = stderr())
        invokeRestart("muffleWarning")
    }

    artifacts <- function(mode, request) {
        limit <- if (is.null(request$max_file_bytes)) "10485760" else as.character(request$max_file_bytes)
        system2("sh", c("-c", shQuote(artifacts_sh), "llm-sandbox", mode, shQuote(request$run_dir),
                        shQuote(request$outputs), limit), stdout = FALSE, stderr = FALSE)
    }

    execute <- function(request, count, plots_dir) {
        code <- request$code
        if (!is.null(request$outputs)) {
            dir.create(request$run_dir, showWarnings = FALSE, recursive = TRUE, mode = "0700")
            artifacts("before", request)
        }
        .llm_sandbox_capture$start(plots_dir)
        results <- list()
        error <- NULL
        filename <- sprintf("cell[%d]", count)
        exprs <- tryCatch(parse(text = code, srcfile = srcfilecopy(filename, code)),
                          error = function(e) e)
        if (inherits(exprs, "error")) {
            error <- exprs
            cat(sprintf("Error: %s\n", conditionMessage(exprs)), file = stderr())
        } else {
            for (expr in exprs) {
                outcome <- tryCatch(
                    withCallingHandlers(withVisible(eval(expr, envir = globalenv())), warning = warn),
                    error = function(e) e,
                    interrupt = function(i) simpleCondition("the cell was interrupted")
                )
                if (inherits(outcome, "condition")) {
                    error <- outcome
                    if (inherits(outcome, "error")) cat(describe(outcome), file = stderr())
                    else cat("Interrupted\n", file = stderr())
                    break
                }
                if (outcome$visible) {
                    printed <- tryCatch({ print(outcome$value); NULL }, error = function(e) e)
                    if (!is.null(printed)) {
                        error <- printed
                        cat(describe(printed), file = stderr())
                        break
                    }
                }
                flush(stdout())
            }
        }
        .llm_sandbox_capture$collect()
        plots <- lapply(sort(list.files(plots_dir)), function(name) {
            path <- file.path(plots_dir, name)
            encoded <- jsonlite::base64_enc(readBin(path, "raw", file.size(path)))
            list(name = name, data = gsub("\n", "", encoded, fixed = TRUE))
        })
        unlink(plots_dir, recursive = TRUE)
        files <- ""
        if (!is.null(request$outputs)) {
            artifacts("after", request)
            archive <- file.path(request$run_dir, "artifacts.tar")
            files <- gsub("\n", "", jsonlite::base64_enc(readBin(archive, "raw", file.size(archive))), fixed = TRUE)
            unlink(request$run_dir, recursive = TRUE)
        }
        document <- list(
            status = if (is.null(error)) "ok" else "error",
            execution_count = count, results = results, plots = plots, files = files,
            error = if (is.null(error)) NULL else list(name = class(error)[1], value = conditionMessage(error))
        )
        list(code = if (is.null(error)) 0L else 1L,
             payload = jsonlite::toJSON(document, auto_unbox = TRUE, null = "null"))
    }

    count <- 0L
    repeat {
        request <- read_request()
        if (is.null(request)) break
        if (identical(request$op, "hello")) {
            reply(request$nonce, 0L, as.character(Sys.getpid()))
        } else if (identical(request$op, "execute")) {
            count <- count + 1L
            plots_dir <- if (is.null(request$plots_dir)) tempfile("plots") else request$plots_dir
            dir.create(plots_dir, showWarnings = FALSE, recursive = TRUE, mode = "0700")
            answer <- execute(request, count, plots_dir)
            reply(request$nonce, answer$code, answer$payload)
        } else {
            reply(request$nonce, 2L, "{\"error\": \"unknown request\"}")
        }
    }
})
