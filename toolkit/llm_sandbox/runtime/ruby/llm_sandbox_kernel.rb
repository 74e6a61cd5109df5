# The Ruby kernel of InteractiveSandboxSession: cells evaluated in one binding, state kept between them.
#
# Started as a warm process (see runtime/python/llm_sandbox_warm.py for the wire protocol):
#   sh -c 'exec 3<&0 0</dev/null; exec "$@"' llm-sandbox ruby /opt/llm-sandbox/llm_sandbox_kernel.rb
# Requests `<size>\n<json>` arrive on fd 3; output streams on stdout/stderr as the cell prints it; the
# answer is `<nonce> <code> <size>\n<json>` on stdout and `<nonce> \n` on stderr. Local variables,
# methods, classes and requires live in one binding, as in irb. Errors print as Ruby prints an
# uncaught one, with the cell's own line numbers; the last expression's value (unless nil) is the
# cell's result, as `inspect` shows it.
require "json"

REQUESTS = IO.new(3, "rb")
ARTIFACTS_SH = ARGV[1] || "" # runtime/artifacts.sh: the output files of a cell
REQUESTS.close_on_exec = true # commands the cell runs do not get the host's requests
$stdout.sync = true
$stderr.sync = true
$llm_sandbox_executing = false
# SIGINT stops a running cell (Interrupt), never the kernel between cells.
trap("INT") { raise Interrupt if $llm_sandbox_executing }

def llm_sandbox_read_request
  header = REQUESTS.gets
  return nil if header.nil?
  size = header.to_i
  body = size.zero? ? "" : REQUESTS.read(size)
  return nil if body.nil? || body.bytesize < size
  JSON.parse(body)
end

def llm_sandbox_reply(nonce, code, payload)
  $stdout.flush
  $stderr.flush
  STDOUT.write("#{nonce} #{code} #{payload.bytesize}\n", payload)
  STDOUT.flush
  STDERR.write("#{nonce} \n")
  STDERR.flush
end

def llm_sandbox_describe(error)
  own = (error.backtrace || []).reject { |line| line.include?("llm_sandbox_kernel.rb") }
  return "#{error.message} (#{error.class})\n" if own.empty? || error.is_a?(SyntaxError)
  first, *rest = own
  ([+"#{first}: #{error.message} (#{error.class})"] + rest.map { |line| "\tfrom #{line}" }).join("\n") + "\n"
end

# The cells' binding: the top level of this script, which keeps no local variables of its own
# (everything here lives in methods), so a cell sees only what earlier cells defined.
CELLS = TOPLEVEL_BINDING

def llm_sandbox_artifacts(mode, request)
  limit = (request["max_file_bytes"] || 10_485_760).to_s
  system("sh", "-c", ARTIFACTS_SH, "llm-sandbox", mode, request["run_dir"], request["outputs"], limit,
         out: File::NULL, err: File::NULL)
end

def llm_sandbox_execute(request, count)
  code = request["code"]
  if request["outputs"]
    require "fileutils"
    FileUtils.mkdir_p(request["run_dir"], mode: 0o700)
    llm_sandbox_artifacts("before", request)
  end
  Gem::Specification.reset if defined?(Gem::Specification) # gems installed since the last cell
  results = []
  error = nil
  begin
    $llm_sandbox_executing = true
    value = CELLS.eval(code, "cell[#{count}]", 1)
    $llm_sandbox_executing = false
    unless value.nil?
      results << { type: "execute_result", data: { "text/plain" => value.inspect }, metadata: {}, execution_count: count }
    end
  rescue SystemExit
    raise
  rescue Exception => e # rubocop:disable Lint/RescueException -- a cell's error of any kind is its result
    $llm_sandbox_executing = false
    error = e
    $stderr.write(llm_sandbox_describe(e))
  end
  files = ""
  if request["outputs"]
    llm_sandbox_artifacts("after", request)
    files = [File.binread(File.join(request["run_dir"], "artifacts.tar"))].pack("m0")
    FileUtils.rm_rf(request["run_dir"])
  end
  document = {
    status: error ? "error" : "ok", execution_count: count, results: results, plots: [], files: files,
    error: error && { name: error.class.name, value: error.message }
  }
  [error ? 1 : 0, JSON.generate(document)]
end

def llm_sandbox_serve
  count = 0
  loop do
    request = llm_sandbox_read_request
    break if request.nil?

    case request["op"]
    when "hello"
      llm_sandbox_reply(request["nonce"], 0, Process.pid.to_s)
    when "execute"
      count += 1
      code, payload = llm_sandbox_execute(request, count)
      llm_sandbox_reply(request["nonce"], code, payload)
    else
      llm_sandbox_reply(request["nonce"], 2, JSON.generate({ error: "unknown request #{request["op"]}" }))
    end
  end
end

llm_sandbox_serve
