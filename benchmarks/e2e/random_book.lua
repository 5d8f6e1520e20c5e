-- wrk script: GET a random book page among the first BOOKS books.
local books = tonumber(os.getenv("BENCH_BOOKS") or "10")
math.randomseed(os.time())
request = function()
  return wrk.format(nil, "/api/books/" .. math.random(1, books) .. "/")
end
