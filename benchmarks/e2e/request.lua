-- wrk script: the logged-in page or the write, for a random book or author.
-- BENCH_PATH is "page" or "write"; BENCH_COOKIE the session and CSRF
-- cookies; BENCH_CSRF the CSRF token; BENCH_MAX the largest id to draw.
local path = os.getenv("BENCH_PATH") or "page"
local cookie = os.getenv("BENCH_COOKIE") or ""
local csrf = os.getenv("BENCH_CSRF") or ""
local max = tonumber(os.getenv("BENCH_MAX") or "10")
math.randomseed(os.time())
request = function()
  local url = "/" .. path .. "/" .. math.random(1, max) .. "/"
  if path == "write" then
    return wrk.format("POST", url, {
      ["Cookie"] = cookie, ["X-CSRFToken"] = csrf,
      ["Content-Type"] = "application/json", ["Content-Length"] = "0",
    }, "")
  end
  return wrk.format("GET", url, {["Cookie"] = cookie})
end
