-- wrk script: POST JSON bodies read from a file, one body per line, in order.
--
-- Arguments after `--`: the request path, the body file and the number of wrk threads.
-- Thread i sends lines i, i + threads, i + 2 * threads, ... so no two threads send the same
-- body; a thread that runs out of lines starts again from its first line.
-- At the end it prints one line, `BENCH_RESULT {...}`, with the counts and the latency
-- percentiles in microseconds for the script that started wrk.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local path, body_file, total_threads = args[1], args[2], tonumber(args[3])
  local headers = { ["Content-Type"] = "application/json" }
  prepared = {}
  local line_number = 0
  for line in io.lines(body_file) do
    if line_number % total_threads == thread_index then
      prepared[#prepared + 1] = wrk.format("POST", path, headers, line)
    end
    line_number = line_number + 1
  end
  if #prepared == 0 then
    error("no request bodies for thread " .. thread_index .. " in " .. body_file)
  end
  next_index = 1
  sent = 0
  not_ok = 0
  bodies = #prepared
end

function request()
  local prepared_request = prepared[next_index]
  next_index = next_index % #prepared + 1
  sent = sent + 1
  return prepared_request
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local sent_total, not_ok_total, bodies_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    not_ok_total = not_ok_total + thread:get("not_ok")
    bodies_total = bodies_total + thread:get("bodies")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"sent":%d,"not_ok":%d,"bodies":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, sent_total, not_ok_total, bodies_total,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
