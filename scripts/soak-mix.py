"""Write a wrk Lua script that drives the edge with one traffic mix (used by scripts/soak.sh).

usage: soak-mix.py MIX CATALOG_ITEMS RATINGS OUT.lua
MIX: search      long-tail searches only (two random title words: almost never repeated)
     recommend   recommendations, half known users, half anonymous sessions of 1-3 products
     popular     the 20 most popular searches, Zipf-weighted (what a storefront mostly sends)
     popular-get the same as GET /search?q=…&top_k=10 (a storefront's search page)
     mixed       35% popular searches, 20% long-tail searches, 20% known users, 20% anonymous
                 sessions, 5% malformed requests (bad JSON, unknown field, top_k 0, wrong method)
     anchor      GET / (the trivial component)
Deterministic: each wrk thread seeds its generator with 7 + its index.
The done() hook prints one line: RESULT rps=… p50_ms=… p99_ms=… requests=… socket_errors=… s5xx=… s4xx=…
"""
import csv
import json
import re
import sys

mix, items_path, ratings_path, out = sys.argv[1:5]

titles, ids = [], []
with open(items_path, encoding="utf-8", errors="replace") as f:
    for row in csv.reader(f, delimiter="\t"):
        if row and not row[0].startswith("item_id"):
            ids.append(row[0])
            titles.append(row[1])
users = []
with open(ratings_path) as f:
    next(f)
    seen = set()
    for line in f:
        u = line.split("\t", 1)[0]
        if u not in seen:
            seen.add(u)
            users.append(u)
words = sorted({w.lower() for t in titles for w in re.findall(r"[A-Za-z]{4,}", t)})
popular = ["star wars", "toy story", "love", "comedy", "war", "the godfather", "horror", "space", "batman",
           "christmas", "romance", "king", "night", "alien", "james bond", "disney", "western", "crime",
           "music", "detective"]

lua = f"""
local words = {json.dumps(words)}
local ids = {json.dumps(ids)}
local users = {json.dumps(users)}
local popular = {json.dumps(popular)}
local mix = "{mix}"
""".replace("[", "{").replace("]", "}")
lua += r"""
local headers = { ["content-type"] = "application/json" }
local function zipf()
  -- weight 1/r over the popular list
  local total = 0
  for r = 1, #popular do total = total + 1 / r end
  local x, acc = math.random() * total, 0
  for r = 1, #popular do acc = acc + 1 / r; if x <= acc then return popular[r] end end
  return popular[1]
end
local function search(q) return wrk.format("POST", "/search", headers, '{"query":"' .. q .. '","top_k":10}') end
local function search_get(q) return wrk.format("GET", "/search?q=" .. q:gsub(" ", "+") .. "&top_k=10") end
local function longtail() return search(words[math.random(#words)] .. " " .. words[math.random(#words)]) end
local function known() return wrk.format("POST", "/recommendations", headers, '{"user_id":"' .. users[math.random(#users)] .. '","top_k":10}') end
local function session()
  local h = {}
  for i = 1, math.random(3) do h[i] = '"' .. ids[math.random(#ids)] .. '"' end
  return wrk.format("POST", "/recommendations", headers, '{"history":[' .. table.concat(h, ",") .. '],"top_k":10}')
end
local bad = {
  function() return wrk.format("POST", "/search", headers, '{"query": "unterminated') end,
  function() return wrk.format("POST", "/search", headers, '{"qurey":"typo"}') end,
  function() return wrk.format("POST", "/recommendations", headers, '{"top_k":0}') end,
  function() return wrk.format("DELETE", "/search") end,
}
threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(7 + id)
  c5, c4 = 0, 0
end
function request()
  if mix == "anchor" then return wrk.format("GET", "/") end
  if mix == "search" then return longtail() end
  if mix == "popular" then return search(zipf()) end
  if mix == "popular-get" then return search_get(zipf()) end
  if mix == "recommend" then if math.random() < 0.5 then return known() else return session() end end
  local x = math.random()
  if x < 0.35 then return search(zipf())
  elseif x < 0.55 then return longtail()
  elseif x < 0.75 then return known()
  elseif x < 0.95 then return session()
  else return bad[math.random(#bad)]() end
end
function response(status, headers, body)
  if status >= 500 then c5 = c5 + 1 elseif status >= 400 then c4 = c4 + 1 end
end
function done(summary, latency, requests)
  local s5, s4 = 0, 0
  for _, t in ipairs(threads) do s5 = s5 + t:get("c5"); s4 = s4 + t:get("c4") end
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d socket_errors=%d s5xx=%d s4xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.timeout, s5, s4))
end
"""
open(out, "w").write(lua)
