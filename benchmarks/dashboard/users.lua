-- wrk: dashboard users changing filters. Each request picks one of the 84
-- filter combinations (7 regions x 4 ranges x 3 pages); each wrk thread keeps
-- the session cookie it was given, like a browser.
local regions = {"", "Africa", "Asia", "Europe", "North%20America", "Oceania", "South%20America"}
local ranges = {7, 30, 90, 365}
local cookie = nil

setup = function(thread)
  thread:set("seed", math.random(1, 1000000))
end

init = function()
  math.randomseed(seed)
end

request = function()
  local path = string.format("/?region=%s&range=%d&page=%d", regions[math.random(#regions)],
                             ranges[math.random(#ranges)], math.random(3))
  -- wrk.format() takes these instead of wrk.headers (the -H ones): copy them.
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if cookie then headers["Cookie"] = cookie end
  return wrk.format("GET", path, headers)
end

response = function(status, headers, body)
  local c = headers["Set-Cookie"]
  if c then cookie = c:match("^([^;]+)") end
end
