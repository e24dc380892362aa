-- wrk script: POSTs the JSON bodies of $BG_BODIES (one a line) to $BG_PATH in turn, with
-- the bearer token $BG_TOKEN (may be empty).
local bodies = {}
local i = 0
local token = os.getenv("BG_TOKEN") or ""
local path = os.getenv("BG_PATH")

init = function(args)
  for line in io.lines(os.getenv("BG_BODIES")) do
    bodies[#bodies + 1] = line
  end
  i = math.random(#bodies)
end

request = function()
  i = i % #bodies + 1
  local headers = { ["Content-Type"] = "application/json" }
  if token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  return wrk.format("POST", path, headers, bodies[i])
end
