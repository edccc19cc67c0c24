-- wrk script for POST /chat (scripts/load.sh): one streamed question per request, and a count of
-- replies that did not end with the `done` event (an SSE `error` event still has status 200, so
-- wrk's own non-2xx count would miss it). Printed as "Stream results: complete N, incomplete N".
wrk.method = "POST"
wrk.body = '{"message":"Hvor lenge varer batterigarantien?","stream":true}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  complete = 0
  incomplete = 0
end

function response(status, headers, body)
  if status == 200 and body:find("event: done", 1, true) and not body:find("event: error", 1, true) then
    complete = complete + 1
  else
    incomplete = incomplete + 1
  end
end

function done(summary, latency, requests)
  local c, i = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("complete")
    i = i + t:get("incomplete")
  end
  io.write(string.format("Stream results: complete %d, incomplete %d\n", c, i))
end
