-- wrk: dashboard users changing filters. Each request is one of `users`
-- people (user1..userN, basic auth through nginx; scripts/fleet.sh creates
-- them with LOAD_USERS) changing one of their three filters, as a click on
-- the page does, and submitting the form with all three (84 combinations in
-- all: 7 regions x 4 ranges x 3 pages). Each person keeps the session cookie
-- they were given, like a browser: the page names who it was served to,
-- which is how a response finds its person's cookie jar.
local regions = {"", "Africa", "Asia", "Europe", "North%20America", "Oceania", "South%20America"}
local ranges = {7, 30, 90, 365}
local users = tonumber(os.getenv("LOAD_USERS") or "200")
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  return ((s:gsub(".", function(c)
    local bits, byte = "", c:byte()
    for i = 8, 1, -1 do bits = bits .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and "1" or "0") end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({"", "==", "="})[#s % 3 + 1])
end

local auth = {}
local cookies = {}
local filters = {}  -- per person: indexes into regions and ranges, and the page

setup = function(thread)
  thread:set("seed", math.random(1, 1000000))
end

init = function()
  math.randomseed(seed)
  for u = 1, users do
    auth[u] = "Basic " .. base64("user" .. u .. ":load-pw")
    filters[u] = {math.random(#regions), math.random(#ranges), math.random(3)}
  end
end

local choices = {#regions, #ranges, 3}

request = function()
  local u = math.random(users)
  local f = filters[u]
  local which = math.random(3)
  f[which] = math.random(choices[which])
  local path = string.format("/?region=%s&range=%d&page=%d", regions[f[1]], ranges[f[2]], f[3])
  local headers = {["Authorization"] = auth[u]}
  if cookies[u] then headers["Cookie"] = cookies[u] end
  return wrk.format("GET", path, headers)
end

response = function(status, headers, body)
  local c = headers["Set-Cookie"]
  if not c then return end
  local u = body:match("signed in as user(%d+)")
  if u then cookies[tonumber(u)] = c:match("^([^;]+)") end
end
