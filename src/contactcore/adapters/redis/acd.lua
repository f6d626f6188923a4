-- The ACD's state changes, each one atomic (one function call = one transaction).
-- A Redis function library: it is loaded once (FUNCTION LOAD), so the helpers below are
-- built once, not on every call as an EVAL script's body would be. One function, named
-- by routing_store.py, takes keys[1] = key base ("<prefix>:{acd}") and args = command,
-- now, JSON args, stream max length; acd() at the end sets the per-call state below.
-- The key helpers k_*() are inserted from keys.py. Every change appends its domain
-- events to the stream inside the same call, so state and history never disagree.
-- Every use of a global is a lookup in the globals table; these locals are read
-- directly. Globals are reachable only while a call runs, not when the library loads:
-- acd() sets them on its first call (bind_globals).
local tonumber, tostring, pairs, ipairs, next, type, unpack
local sformat, ssub, sfind, tsort, tconcat, floor
local rcall, redis_error_reply, jencode, jdecode, JNULL
local function bind_globals()
  tonumber, tostring, pairs, ipairs, next, type, unpack =
    _G.tonumber, _G.tostring, _G.pairs, _G.ipairs, _G.next, _G.type, _G.unpack
  sformat, ssub, sfind = _G.string.format, _G.string.sub, _G.string.find
  tsort, tconcat, floor = _G.table.sort, _G.table.concat, _G.math.floor
  rcall, redis_error_reply = _G.redis.call, _G.redis.error_reply
  jencode, jdecode, JNULL = _G.cjson.encode, _G.cjson.decode, _G.cjson.null
end
local P, cmd, now, args, STREAM_MAX, NOW
-- keys without a variable part, built once per call (acd() below)
local K_EVENTS, K_OFFERS, K_QUEUES, K_TIMERS
-- JSON null decodes to a truthy value; drop it so "x or default" works
local function strip_nulls(t)
  for k, v in pairs(t) do
    if v == JNULL then t[k] = nil elseif type(v) == 'table' then strip_nulls(v) end
  end
end
local NO_AGING = 10000000 -- seconds per priority point when aging is off
local EMPTY = {} -- never written: the default where a table is absent
-- Redis 7 refuses non-integer Lua numbers as command arguments
local function S(x) return sformat('%.17g', x) end
-- JSON text of a string, as cjson.encode writes it; strings that need no escaping (ids,
-- names) are quoted without a call into cjson
local function jstr(x)
  if sfind(x, '[%c"\\]') then return jencode(x) end
  return '"' .. x .. '"'
end
-- fn's result per distinct argument, kept per library load; bounded: it starts over
-- past "max" entries. For pure functions whose results are never modified.
local function memo(fn, max)
  local m, n = {}, 0
  return function(x)
    local v = m[x]
    if v == nil then
      v = fn(x)
      if n >= max then m, n = {}, 0 end
      m[x] = v
      n = n + 1
    end
    return v
  end
end
-- Numbers need no such helper: Lua writes a number in a concatenation with '%.14g',
-- which is what cjson.encode writes. The JSON text of names that recur (agents, queues,
-- channels, skills, strategies) is kept.
local jname = memo(jstr, 8192)
-- text of a number: small whole numbers (levels, counts, loads, priorities, timeouts)
-- from a table filled as they come, others as a concatenation writes them ('%.14g');
-- the same text either way, without a call into the C library's printf for most
local NUMTEXT = {}
local function num(x)
  local t = NUMTEXT[x]
  if t then return t end
  t = x .. ''
  if x >= 0 and x < 10000 and x == floor(x) then NUMTEXT[x] = t end
  return t
end
-- a time to the millisecond ('%.3f' without trailing zeros), as the explanation shows it
local function ms(x) return num(floor(x * 1000 + 0.5) / 1000) end

-- every event's time is NOW, the call's time in full (cjson would write 14 digits: events
-- of one moment written by different paths must not come out in another order)
local function emit(typ, tid, aid, qid, payload)
  local ids = ''
  if tid then ids = ',"task_id":' .. jstr(tid) end
  if aid then ids = ids .. ',"agent_id":' .. jname(aid) end
  if qid then ids = ids .. ',"queue_id":' .. jname(qid) end
  rcall('XADD', K_EVENTS, 'MAXLEN', '~', STREAM_MAX, '*', 'e',
    '{"type":"' .. typ .. '","at":' .. NOW .. ids .. ',"payload":' .. jencode(payload or EMPTY) .. '}')
end

local function hgetall(key)
  local h = rcall('HGETALL', key)
  if #h == 0 then return nil end
  local t = {}
  for i = 1, #h, 2 do t[h[i]] = h[i + 1] end
  return t
end

-- Queue configurations and agents' skills, capacities and cross-channel rules are JSON
-- text that many calls (and many agents) share and that rarely changes, so each distinct
-- text is decoded once per library load. The tables are never modified (a change builds
-- a new one).
local JSON_MEMO_MAX = 8192
-- (cjson is reachable only while a call runs, not when the library loads)
local decoded = memo(function(raw) return jdecode(raw) end, JSON_MEMO_MAX)

-- queue configurations, kept with the cache of agents (use_cache below): read once
local qcache
local function qcfg(q)
  local c = qcache[q]
  if c == nil then
    local raw = rcall('HGET', K_QUEUES, q)
    if raw then c = decoded(raw) else c = false end
    qcache[q] = c
  end
  return c
end

local function aging(cfg)
  local a = tonumber(cfg.aging or 0)
  if a <= 0 then return NO_AGING end
  return a
end

-- routing score: lower is served first. Aging is linear, so "priority + wait/aging"
-- orders exactly like "enqueued_at - priority*aging", which never changes while waiting.
local function score(prio, enq, cfg)
  return enq - prio * aging(cfg)
end

local function eff_priority(prio, enq, cfg)
  local a = tonumber(cfg.aging or 0)
  if a <= 0 then return prio end
  return prio + (now - enq) / a
end

-- names of the per-channel fields of an agent's hash, built once per channel name
local FIELDS = {}
local function fields(ch)
  local f = FIELDS[ch]
  if not f then
    f = {ld = 'ld:' .. ch, since = 'since:' .. ch}
    FIELDS[ch] = f
  end
  return f
end

-- Agents and the availability index stay in memory between calls, one cache per key
-- base (see use_cache below): the agent tables as read from their hashes (skills,
-- capacities and cross-channel rules decoded) and kept up to date by every change this
-- library makes, so a decision reads no agent hash and writes no index key.
local AG, IX, IXS, BLK, STAR, CACHE -- the current call's cache (see the index below)
-- ROOM[ch]: how many agents can take work on <ch> now (filed there and not blocked)
local ROOM

local function read_agent(aid)
  local a = hgetall(k_agent(aid))
  if not a then return false end
  a.id = aid
  a.skills = decoded(a.sk)
  a.caps = decoded(a.cap)
  a.blocks = decoded(a.blk)
  local L = {}
  for k, v in pairs(a) do
    if ssub(k, 1, 3) == 'ld:' then L[ssub(k, 4)] = tonumber(v) end
  end
  a.L = L
  return a
end

local function agent(aid)
  local a = AG[aid]
  if a == nil then
    a = read_agent(aid)
    if a then AG[aid] = a end
  end
  return a
end

-- loads per channel, as numbers (a.L), kept in step with the 'ld:<ch>' fields
local function load(a, ch) return a.L[ch] or 0 end

-- room on the channel: available, capacity configured and not used up
local function has_room(a, ch)
  if a.pr ~= 'available' then return false end
  local cap = tonumber(a.caps[ch] or 0)
  return cap > 0 and load(a, ch) < cap
end

-- blocked on the channel by work in hand on another one (a cross-channel rule)
local function is_blocked(a, ch)
  for och, blocked in pairs(a.blocks) do
    if och ~= ch and load(a, och) > 0 then
      for _, b in ipairs(blocked) do if b == ch then return true end end
    end
  end
  return false
end

local function can_take(a, ch)
  return has_room(a, ch) and not is_blocked(a, ch)
end

local function occupancy(a)
  local l, c = 0, 0
  for ch, cap in pairs(a.caps) do
    l = l + load(a, ch)
    c = c + tonumber(cap)
  end
  if c == 0 then return 1 end
  return l / c
end

-- Availability index, in memory (see use_cache): IX[ch][skill][level] lists the agents
-- with room on <ch> (available, load under the capacity) with that level of the skill,
-- ordered by when their work on <ch> last changed, then by id: the first is the longest
-- idle of the level. Skill '*' holds every such agent at level 1, for queues without
-- skills: kept per channel only once such a queue asked (STAR[ch]; most centres never
-- do, and it is one more list per agent). IXS[ch][agent] is the time an agent is filed
-- under on <ch>.
-- An agent with room on <ch> but blocked there by work on another channel (a call in
-- hand blocks chats and emails) stays filed, flagged in BLK[ch] and counted in its
-- lists' "nb": matching skips it, and a call taken or ended flips a flag instead of
-- moving the agent through the chat and email lists. A list is doubly linked by agent
-- id (l.nx / l.pv, ends l.head / l.tail): taking an agent out is O(1), and filing it
-- walks back from the tail, where a change of work (time = now) always lands at once;
-- only coming back from a pause files it further up.
local function ix_add(ch, skill, lv, aid, s, since)
  local byc = IX[ch]
  if not byc then byc = {}; IX[ch] = byc end
  local bands = byc[skill]
  if not bands then bands = {}; byc[skill] = bands end
  local l = bands[lv]
  if not l then l = {n = 0, nb = 0, nx = {}, pv = {}}; bands[lv] = l end
  local nx, pv = l.nx, l.pv
  local p = l.tail
  while p do
    local ps = since[p]
    if ps < s or (ps == s and p < aid) then break end
    p = pv[p]
  end
  local q
  if p then q = nx[p]; nx[p] = aid else q = l.head; l.head = aid end
  pv[aid] = p
  nx[aid] = q
  if q then pv[q] = aid else l.tail = aid end
  l.n = l.n + 1
end
local function ix_del(ch, skill, lv, aid)
  local l = IX[ch][skill][lv]
  local nx, pv = l.nx, l.pv
  local p, q = pv[aid], nx[aid]
  if p then nx[p] = q else l.head = q end
  if q then pv[q] = p else l.tail = p end
  nx[aid], pv[aid] = nil, nil
  l.n = l.n - 1
end
local function ix_blocked(a, ch, on)
  local blk = BLK[ch]
  if not blk then blk = {}; BLK[ch] = blk end
  if (blk[a.id] or false) == on then return end
  local d = on and 1 or -1
  if on then blk[a.id] = true else blk[a.id] = nil end
  ROOM[ch] = (ROOM[ch] or 0) - d
  local byc = IX[ch]
  for skill, lvl in pairs(a.skills) do
    local l = byc[skill][tonumber(lvl)]
    l.nb = l.nb + d
  end
  if STAR[ch] then
    local l = byc['*'][1]
    l.nb = l.nb + d
  end
end
local function ix_put(a, ch, s)
  local since = IXS[ch]
  if not since then since = {}; IXS[ch] = since end
  for skill, lvl in pairs(a.skills) do ix_add(ch, skill, tonumber(lvl), a.id, s, since) end
  if STAR[ch] then ix_add(ch, '*', 1, a.id, s, since) end
  since[a.id] = s
  ROOM[ch] = (ROOM[ch] or 0) + 1
end
local function ix_drop(a, ch)
  local since = IXS[ch]
  if not (since and since[a.id]) then return end
  ix_blocked(a, ch, false)
  for skill, lvl in pairs(a.skills) do ix_del(ch, skill, tonumber(lvl), a.id) end
  if STAR[ch] then ix_del(ch, '*', 1, a.id) end
  since[a.id] = nil
  ROOM[ch] = ROOM[ch] - 1
end
-- the '*' list of a channel, from the agents filed there, the first time it is needed
local function by_time(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end
local function star_build(ch)
  STAR[ch] = true
  local since, all = IXS[ch] or EMPTY, {}
  for aid, s in pairs(since) do all[#all + 1] = {s, aid} end
  if #all == 0 then return end
  tsort(all, by_time)
  for _, x in ipairs(all) do ix_add(ch, '*', 1, x[2], x[1], since) end
  local l = IX[ch]['*'][1]
  for _, _ in pairs(BLK[ch] or EMPTY) do l.nb = l.nb + 1 end
end

-- Write the agent's changed fields (a.dirty: one hash write per change of an agent) and
-- keep its index entries true: filed under each channel it has room on, with the time
-- its work there last changed (longest idle = first), and flagged where it is blocked.
local function sync(a)
  local d = a.dirty
  if d then
    a.dirty = nil
    rcall('HSET', k_agent(a.id), unpack(d))
  end
  for ch, _ in pairs(a.caps) do
    local want = nil
    if has_room(a, ch) then want = tonumber(a[fields(ch).since] or a.idle or '0') end
    local since = IXS[ch]
    local cur = since and since[a.id]
    if cur ~= want then
      if cur then ix_drop(a, ch) end
      if want then ix_put(a, ch, want) end
    end
    if want then ix_blocked(a, ch, is_blocked(a, ch)) end
  end
end

-- out of the index on every channel (before skills or capacities change, or on logout)
local function unsync(a)
  for ch, _ in pairs(a.caps) do ix_drop(a, ch) end
end

local function mark(a, field, value)
  a[field] = value
  local d = a.dirty
  if not d then d = {}; a.dirty = d end
  d[#d + 1] = field
  d[#d + 1] = value
end

-- the agent table was read in this same script, so its load is current; the write is
-- left to the sync() that always follows
local function set_load(a, ch, delta)
  local f = fields(ch)
  local n = load(a, ch) + delta
  a.L[ch] = n
  mark(a, f.ld, num(n))
  mark(a, f.since, NOW)
end

-- requirements after relaxation: the queue's skills merged with the task's own, each
-- level lowered to the cap of the last step reached, never below 1 (the skill itself
-- is never dropped)
local function by_skill(x, y) return x[1] < y[1] end
-- the requirements as the JSON members of the explanation's "required" object
local function required_json(req)
  if #req == 1 then
    if req[1][1] == '*' then return '' end
    return jname(req[1][1]) .. ':' .. req[1][2]
  end
  local parts = {}
  for _, r in ipairs(req) do
    if r[1] ~= '*' then parts[#parts + 1] = jname(r[1]) .. ':' .. r[2] end
  end
  return tconcat(parts, ',')
end
-- requirements of tasks without skills of their own, per queue configuration table and
-- relaxation step (never modified); bounded like the memos above
local QREQ, QREQ_N = {}, 0
local function requirements(cfg, t, wait)
  local step, cap = 0, nil
  for i, st in ipairs(cfg.relax or EMPTY) do
    if wait >= tonumber(st.after) and st.level then step = i; cap = tonumber(st.level) end
  end
  local own = t.sk
  local plain = not own or own == '{}'
  local bystep
  if plain then
    bystep = QREQ[cfg]
    if not bystep then
      if QREQ_N >= JSON_MEMO_MAX then QREQ, QREQ_N = {}, 0 end
      bystep = {}
      QREQ[cfg] = bystep
      QREQ_N = QREQ_N + 1
    end
    local list = bystep[step]
    if list then return step, list end
  end
  local req = {}
  for s, l in pairs(cfg.skills or {}) do req[s] = tonumber(l) end
  if not plain then
    for s, l in pairs(jdecode(own)) do
      if req[s] == nil or tonumber(l) > req[s] then req[s] = tonumber(l) end
    end
  end
  local list = {}
  for s, l in pairs(req) do
    if cap and l > cap then l = cap end
    if l < 1 then l = 1 end
    list[#list + 1] = {s, l}
  end
  if #list > 1 then tsort(list, by_skill) end
  if #list == 0 then list[1] = {'*', 1} end
  if plain then
    list.json = required_json(list) -- kept with the list: written in every explanation
    bystep[step] = list
  end
  return step, list
end

local function skills_ok(a, req)
  for _, r in ipairs(req) do
    if r[1] ~= '*' then
      local have = tonumber(a.skills[r[1]] or 0)
      if have < r[2] then return false end
    end
  end
  return true
end

local function level_sum(a, req)
  local s = 0
  for _, r in ipairs(req) do
    if r[1] == '*' then s = s + 1 else s = s + tonumber(a.skills[r[1]] or 0) end
  end
  return s
end

-- strategy key (k1, then k2 = free since): lower wins
local function better(k1, k2, y)
  if y == nil then return true end
  if k1 ~= y.k1 then return k1 < y.k1 end
  return k2 < y.since
end

-- Find the agent for a task. Candidates come from the index of the first required skill
-- at the required level or above, best level first and each level in idle order; every
-- one can take work on the channel, so only the exclusions (recent refusals) and the
-- other skills need checking.
-- The search state of find_agent, in upvalues rather than closures made per decision.
local fa_strategy, fa_req, best, runner
-- candidate tables are made only for the best two
local function consider(aid, L, since, a)
  local k1 = 0
  if fa_strategy == 'best_skill' then
    if a then k1 = -level_sum(a, fa_req) else k1 = -L end
  elseif fa_strategy == 'least_occupied' then
    k1 = occupancy(a)
  end
  if better(k1, since, best) then
    runner = best
    best = {aid = aid, level = L, since = since, k1 = k1}
  elseif better(k1, since, runner) then
    runner = {aid = aid, level = L, since = since, k1 = k1}
  end
end
-- The general search: several required skills, or least_occupied. Candidates come from
-- one required skill's index, the one with the fewest agents filed at its level or above
-- (every winner has every required skill, so any one of them holds all candidates);
-- the others are checked against the cached agent. "None filed" for any skill: nobody.
local function primary_skill(ch, req)
  local byc = IX[ch]
  local ps, pl, pn = nil, nil, nil
  for _, r in ipairs(req) do
    local bands = byc[r[1]]
    if not bands then return nil end
    local n = 0
    for L = r[2], 10 do
      local l = bands[L]
      if l then n = n + l.n - l.nb end
    end
    if n <= 0 then return nil end
    if not pn or n < pn then ps, pl, pn = r[1], r[2], n end
  end
  return ps, pl
end
-- After the winner is known, candidates are still counted up to this many seen, so that
-- "eligible" is exact for all but the largest lists.
local COUNT_MAX = 64
-- Longest idle and least occupied visit the candidates in idle order across levels (a
-- merge of the level lists, each in idle order): longest idle is decided by the first
-- two who have every skill; least occupied once two with nothing in hand are found (none
-- can come before them), otherwise when the list ends. Best skill visits the levels from
-- the top, each in idle order, and stops when no level left can reach the runner-up's
-- sum. Past "scan" candidates the best of those seen wins (eligible_exact false); until
-- somebody is found the search goes on.
local function find_general(ch, req, strategy, excl, scan, since, blk, hasx)
  local ps, pl = primary_skill(ch, req)
  if not ps then return nil, nil, 0, true end
  local bands = IX[ch][ps]
  local others = 0
  for _, r in ipairs(req) do if r[1] ~= ps then others = others + 10 end end
  local eligible, seen, decided = 0, 0, false
  local first = req[1][1]
  local function visit(aid, L)
    if blk[aid] or (hasx and excl[aid]) then return false end
    seen = seen + 1
    local a = AG[aid]
    if skills_ok(a, req) then
      eligible = eligible + 1
      if not decided then
        -- the level shown is that of the first required skill, whichever index was read
        if ps ~= first then L = tonumber(a.skills[first] or 1) end
        consider(aid, L, since[aid], a)
      end
    end
    return true
  end
  if strategy == 'best_skill' then
    for L = 10, pl, -1 do
      if runner and L + others < -runner.k1 then decided = true end
      local l = bands[L]
      local aid = l and l.head
      while aid do
        if visit(aid, L) and best and seen >= (decided and COUNT_MAX or scan) then
          return best, runner, eligible, false
        end
        aid = l.nx[aid]
      end
    end
    return best, runner, eligible, true
  end
  local cur = {}
  for L = pl, 10 do
    local l = bands[L]
    if l and l.head then cur[L] = l.head end
  end
  while true do
    local bl, bs, baid = nil, nil, nil
    for L, aid in pairs(cur) do
      local s = since[aid]
      if not bl or s < bs or (s == bs and aid < baid) then bl, bs, baid = L, s, aid end
    end
    if not bl then return best, runner, eligible, true end
    cur[bl] = bands[bl].nx[baid]
    if visit(baid, bl) then
      if not decided and runner and (strategy ~= 'least_occupied' or runner.k1 <= 0) then
        decided = true
      end
      -- nobody found yet: read on to the end, so that no task starves behind the cap
      if best and seen >= (decided and COUNT_MAX or scan) then
        return best, runner, eligible, false
      end
    end
  end
end
local function find_agent(ch, req, strategy, excl, scan)
  local ps, pl = req[1][1], req[1][2]
  best, runner = nil, nil
  if (ROOM[ch] or 0) <= 0 then return nil, nil, 0, true end
  if ps == '*' and not STAR[ch] then star_build(ch) end
  local bands = IX[ch] and IX[ch][ps]
  if not bands then return nil, nil, 0, true end
  local since, blk = IXS[ch], BLK[ch] or EMPTY
  local hasx = next(excl) ~= nil
  fa_strategy, fa_req = strategy, req
  if #req == 1 and strategy ~= 'least_occupied' then
    local eligible = 0
    for L = 10, pl, -1 do
      local l = bands[L]
      if l then eligible = eligible + l.n - l.nb end
    end
    if hasx then
      for aid, _ in pairs(excl) do
        if since[aid] and not blk[aid] then
          local lv = 1
          if ps ~= '*' then lv = tonumber(AG[aid].skills[ps] or 0) end
          if lv >= pl then eligible = eligible - 1 end
        end
      end
    end
    if eligible <= 0 then return nil, nil, 0, true end
    if strategy == 'best_skill' then
      -- the first two in level order
      for L = 10, pl, -1 do
        local l = bands[L]
        local aid = l and l.head
        while aid do
          if not (blk[aid] or (hasx and excl[aid])) then
            consider(aid, L, since[aid], nil)
            if runner then return best, runner, eligible, true end
          end
          aid = l.nx[aid]
        end
      end
    else
      -- the first two of each level; once there is a runner-up, a level only matters
      -- for members idle longer than it
      for L = 10, pl, -1 do
        local l = bands[L]
        local aid, found = l and l.head, 0
        while aid do
          local s = since[aid]
          if runner and s >= runner.since then break end
          if not (blk[aid] or (hasx and excl[aid])) then
            consider(aid, L, s, nil)
            found = found + 1
            if found >= 2 then break end
          end
          aid = l.nx[aid]
        end
      end
    end
    return best, runner, eligible, true
  end
  return find_general(ch, req, strategy, excl, scan, since, blk, hasx)
end

local function why(strategy, w, ws, r, rs)
  if strategy == 'best_skill' then
    local s = 'best skill level ' .. num(-w.k1) .. ', then longest idle (free since ' .. ws .. ')'
    if r then s = s .. '; next best level ' .. num(-r.k1) .. ' free since ' .. rs .. ' (' .. r.aid .. ')' end
    return s
  elseif strategy == 'least_occupied' then
    local s = 'least occupied (' .. num(floor(w.k1 * 100 + 0.5)) ..
      '% of capacity in use), then longest idle (free since ' .. ws .. ')'
    if r then s = s .. '; next ' .. num(floor(r.k1 * 100 + 0.5)) .. '% (' .. r.aid .. ')' end
    return s
  end
  local s = 'longest idle: free since ' .. ws
  if r then s = s .. '; next free since ' .. rs .. ' (' .. r.aid .. ')' end
  return s
end

-- A binary min-heap in an array, ordered by lt(x, y) ("x comes first"); used for the
-- queue heads below, kept between calls, and for the merge inside one matching call.
-- "moved" (if given) is told each element's new index.
local function heap_up(H, i, lt, moved)
  local x = H[i]
  while i > 1 do
    local p = floor(i / 2)
    local y = H[p]
    if not lt(x, y) then break end
    H[i] = y
    if moved then moved(y, i) end
    i = p
  end
  H[i] = x
  if moved then moved(x, i) end
  return i
end
local function heap_down(H, i, lt, moved)
  local n = #H
  local x = H[i]
  while true do
    local l = 2 * i
    if l > n then break end
    local c = l
    if l < n and lt(H[l + 1], H[l]) then c = l + 1 end
    if not lt(H[c], x) then break end
    H[i] = H[c]
    if moved then moved(H[i], i) end
    i = c
  end
  H[i] = x
  if moved then moved(x, i) end
end
local function heap_push(H, x, lt, moved)
  H[#H + 1] = x
  heap_up(H, #H, lt, moved)
end
-- take out the element at index i
local function heap_take(H, i, lt, moved)
  local n = #H
  local last = H[n]
  H[n] = nil
  if i < n then
    H[i] = last
    if moved then moved(last, i) end
    heap_down(H, heap_up(H, i, lt, moved), lt, moved)
  end
end

-- The head of each queue's waiting set, in memory (kept in the per-key-base cache with
-- the agents, see use_cache): QB[q].e is the first #e members of queue_wait:<q> in its
-- order, as {task id, score} pairs; QB[q].full says it is the whole set. Every change
-- this library makes to a waiting set keeps that true, so matching reads a queue only
-- when it has used up what is kept (QREAD tasks at a time). A task added with a score
-- equal to one kept makes the queue's head be read again (the set orders ties by the
-- bytes of the members). QH is a min-heap of the queues with waiting tasks by the score
-- of their head task (QPOS: each queue's index in it), so that matching opens queues in
-- global score order and only those it reaches. All of it is built (every queue read
-- once) the first time matching needs it after the cache was built; until then the
-- changes below have nothing to keep true.
local QB, QH, QPOS
local QREAD = 8
local QKEEP = 32 -- a queue's kept head is cut back to QREAD tasks past this
local DIRTY = nil -- set while matching: the queues whose head changed, fixed at the end

local HUGE = 1 / 0
-- a queue's key in QH: the score of its head task (none: last)
local function qkey(q)
  local x = QB[q].e[1]
  return x and x[2] or HUGE
end
-- queues by head score, then by id: the same order whatever the heap's shape
local function qlt(q1, q2)
  local k1, k2 = qkey(q1), qkey(q2)
  return k1 < k2 or (k1 == k2 and q1 < q2)
end
local function qmoved(q, i) QPOS[q] = i end

-- read the next tasks of q after those kept; false when there are none
local function qb_more(q, b)
  if b.full then return false end
  local e = b.e
  local n = #e
  local r = rcall('ZRANGE', k_queue_wait(q), n, n + QREAD - 1, 'WITHSCORES')
  for j = 1, #r, 2 do e[#e + 1] = {r[j], tonumber(r[j + 1])} end
  if #r < 2 * QREAD then b.full = true end
  return #e > n
end

-- the kept head of q, read when not known or used up (empty then means no task waits)
local function qhead(q)
  local b = QB[q]
  if not b then
    b = {e = {}, full = false}
    QB[q] = b
  end
  if #b.e == 0 then qb_more(q, b) end
  return b
end

-- q's head task changed (or q became empty or not): its place in QH follows
local function qh_fix(q)
  if DIRTY then DIRTY[q] = true; return end
  local b = qhead(q)
  local i = QPOS[q]
  if #b.e == 0 then
    if i then heap_take(QH, i, qlt, qmoved); QPOS[q] = nil end
  elseif i then
    heap_down(QH, heap_up(QH, i, qlt, qmoved), qlt, qmoved)
  else
    heap_push(QH, q, qlt, qmoved)
  end
end

local function qb_del(q, tid)
  local b = QB and QB[q]
  if not b then return end
  local e = b.e
  for i = 1, #e do
    if e[i][1] == tid then
      for j = i, #e - 1 do e[j] = e[j + 1] end
      e[#e] = nil
      if i == 1 then qh_fix(q) end
      return
    end
  end
end

local function qb_add(q, tid, sc)
  if not QB then return end
  local b = QB[q]
  if not b then qh_fix(q); return end -- a queue not read yet: read now
  local e = b.e
  local n = #e
  local i = n
  while i > 0 and e[i][2] > sc do i = i - 1 end
  if i > 0 and e[i][2] == sc then QB[q] = nil; qh_fix(q); return end
  if i == n and not b.full then return end -- after everything kept
  for j = n, i + 1, -1 do e[j + 1] = e[j] end
  e[i + 1] = {tid, sc}
  if n + 1 > QKEEP then
    for j = n + 1, QREAD + 1, -1 do e[j] = nil end
    b.full = false
  end
  if i == 0 then qh_fix(q) end
end

-- QB and QH, built from every queue's waiting set when first needed after a cache build
local function queue_heads()
  if not QB then
    QB, QH, QPOS = {}, {}, {}
    CACHE.qb, CACHE.qh, CACHE.qpos = QB, QH, QPOS
    for _, q in ipairs(rcall('HKEYS', K_QUEUES)) do qh_fix(q) end
  end
end

-- Timers of waiting tasks: overflow and maximum wait, due at enqueued-at + the queue's
-- delay, one member each in a sorted set by when due ('o|<task>', 'm|<task>'). Armed
-- whenever a task enters a queue's waiting set and disarmed when it leaves it, so every
-- waiting task is due exactly once per stay, whatever its enqueued-at (callbacks and
-- tasks put back keep their original one).
-- the queue takes tasks of this channel
local function takes(cfg, ch)
  for _, c in ipairs(cfg.channels or EMPTY) do if c == ch then return true end end
  return false
end

local function timed(cfg)
  return cfg and ((cfg.overflow_to and cfg.overflow_after) or cfg.max_wait)
end
local function arm(tid, enq, cfg)
  if cfg.overflow_to and cfg.overflow_after then
    rcall('ZADD', K_TIMERS, S(enq + tonumber(cfg.overflow_after)), 'o|' .. tid)
  end
  if cfg.max_wait then rcall('ZADD', K_TIMERS, S(enq + tonumber(cfg.max_wait)), 'm|' .. tid) end
end
local function disarm(tid)
  rcall('ZREM', K_TIMERS, 'o|' .. tid, 'm|' .. tid)
end
-- every waiting task of q gets the timers of cfg (none when cfg has no delays)
local function rearm(q, cfg)
  local r = rcall('ZRANGE', k_queue_enq(q), 0, -1, 'WITHSCORES')
  for i = 1, #r, 2 do
    disarm(r[i])
    if timed(cfg) then arm(r[i], tonumber(r[i + 1]), cfg) end
  end
end

local function drop_from_queue(tid, q)
  rcall('ZREM', k_queue_wait(q), tid)
  rcall('ZREM', k_queue_enq(q), tid)
  if timed(qcfg(q)) then disarm(tid) end
  qb_del(q, tid)
end

local function put_in_queue(tid, t, q)
  local sc = tonumber(t.sc)
  rcall('ZADD', k_queue_wait(q), S(sc), tid)
  rcall('ZADD', k_queue_enq(q), S(tonumber(t.enq)), tid)
  local cfg = qcfg(q)
  if timed(cfg) then arm(tid, tonumber(t.enq), cfg) end
  qb_add(q, tid, sc)
end

local function offer(tid, t, q, cfg, best, runner, eligible, exact, step, req)
  local a = agent(best.aid)
  local ch = t.ch
  local timeout = tonumber(cfg.offer_timeout or 20)
  local wait = now - tonumber(t.enq)
  local required = req.json
  local strategy = cfg.strategy or 'longest_idle'
  local ws, ru, rs = ms(best.since), '', nil
  if runner then
    rs = ms(runner.since)
    ru = ',"runner_up":{"agent":' .. jname(runner.aid) .. ',"level":' .. num(runner.level) ..
      ',"free_since":' .. rs .. '}'
  end
  -- the explanation is written as JSON text directly, in one concatenation (what
  -- cjson.encode of the same table would give, numbers with the same 14 digits), without
  -- building tables for it
  local prio = tonumber(t.prio)
  local ex = '{"strategy":' .. jname(strategy) .. ',"step":' .. num(step) ..
    ',"required":{' .. required .. '}' ..
    ',"priority":' .. num(eff_priority(prio, tonumber(t.enq), cfg)) ..
    ',"base_priority":' .. num(prio) .. ',"waited":' .. ms(wait) ..
    ',"eligible":' .. num(eligible) .. ',"eligible_exact":' .. tostring(exact) ..
    ',"winner":{"agent":' .. jname(best.aid) .. ',"level":' .. num(best.level) ..
    ',"free_since":' .. ws .. ',"occupancy":' .. num(occupancy(a)) .. '}' ..
    ',"why":' .. jstr(why(strategy, best, ws, runner, rs)) .. ru .. '}'
  local until_s = S(now + timeout)
  drop_from_queue(tid, q)
  rcall('HSET', k_task(tid), 'st', 'offered', 'ag', best.aid, 'ou', until_s, 'ex', ex, 'ot', NOW)
  rcall('ZADD', K_OFFERS, until_s, tid)
  rcall('SADD', k_agent_tasks(best.aid), tid)
  if rcall('LPUSH', k_departures(q), NOW) > 40 then
    rcall('LTRIM', k_departures(q), 0, 19)
  end
  set_load(a, ch, 1)
  sync(a)
  -- the explanation is encoded once, for the task and for the event
  rcall('XADD', K_EVENTS, 'MAXLEN', '~', STREAM_MAX, '*', 'e',
    '{"type":"task.offered","at":' .. NOW .. ',"task_id":' .. jstr(tid) ..
    ',"agent_id":' .. jname(best.aid) .. ',"queue_id":' .. jname(q) ..
    ',"payload":{"channel":' .. jname(ch) .. ',"timeout":' .. num(timeout) ..
    ',"explanation":' .. ex .. '}}')
  return {tid, best.aid, q, ch}
end

-- the fields of a waiting task that matching reads (not its customer, attributes ...)
local function routing_fields(tid)
  local v = rcall('HMGET', k_task(tid), 'st', 'ch', 'enq', 'prio', 'sk', 'nrej')
  if not v[1] then return nil end
  return {st = v[1], ch = v[2], enq = v[3], prio = v[4], sk = v[5], nrej = v[6]}
end

-- Requirements (channel and skill levels after relaxation) that found nobody in this
-- matching call: agents only get busier during a call, so every later task with the same
-- requirements and no refusals is skipped without a search (no head-of-line blocking by
-- a class of tasks nobody can take now). Reset by every match.
local FAILED = {}

-- nil: nobody can take it now (and true when that was known without a search)
local function try_route(tid, q, cfg, scan)
  local t = routing_fields(tid)
  if not t or t.st ~= 'waiting' then
    drop_from_queue(tid, q)
    return false -- a stale entry, now gone: not a skip
  end
  local wait = now - tonumber(t.enq)
  local step, req = requirements(cfg, t, wait)
  if not req.json then req.json = required_json(req) end -- a task's own list: made here
  local nrej = tonumber(t.nrej or '0')
  local class = nil
  if nrej == 0 then
    class = t.ch .. '|' .. req.json
    if FAILED[class] then return nil, true end
  end
  local excl = EMPTY
  if nrej > 0 then
    excl = {}
    -- an agent who rejected or missed the task is skipped for reoffer_after seconds
    local since = S(now - tonumber(cfg.reoffer_after or 30))
    for _, x in ipairs(rcall('ZRANGEBYSCORE', k_rejected(tid), since, '+inf')) do excl[x] = true end
  end
  local best, runner, eligible, exact = find_agent(t.ch, req, cfg.strategy or 'longest_idle', excl, scan)
  if not best then
    if class then FAILED[class] = true end
    return nil
  end
  return offer(tid, t, q, cfg, best, runner, eligible, exact, step, req)
end

-- put an offered task back in its original place; the agent's slot is freed
local function unoffer(tid, t, a, typ, reason)
  local q = t.q
  rcall('ZREM', K_OFFERS, tid)
  -- the task did not leave its queue after all: its departure (EWT) is taken back
  if t.ot then rcall('LREM', k_departures(q), 1, t.ot) end
  rcall('SREM', k_agent_tasks(t.ag), tid)
  rcall('ZADD', k_rejected(tid), NOW, t.ag)
  rcall('HINCRBY', k_task(tid), 'nrej', 1)
  rcall('HSET', k_task(tid), 'st', 'waiting', 'ag', '', 'ou', '')
  put_in_queue(tid, t, q)
  if a then set_load(a, t.ch, -1); sync(a) end
  emit(typ, tid, t.ag, q, {reason = reason, channel = t.ch})
end

-- an agent who logged out with work in hand is logged out for good once the last of it
-- (and its wrap-up) is over
-- (LOGOUTS: the agents logged out for good in this call; the commands that can do it say
-- so, and the service drops their durable session then, not before)
local LOGOUTS
local function logout_if_done(a)
  if a.pr ~= 'offline' or rcall('SCARD', k_agent_tasks(a.id)) > 0
      or rcall('SCARD', k_agent_wraps(a.id)) > 0 then
    return
  end
  LOGOUTS[#LOGOUTS + 1] = a.id
  unsync(a)
  rcall('DEL', k_agent(a.id))
  AG[a.id] = nil
  rcall('SREM', k_agents(), a.id)
  emit('agent.logout', nil, a.id, nil, {})
end

local function set_presence(a, pr, reason)
  if a.pr == pr and (a.rs or '') == (reason or '') then return end
  a.pr = pr
  a.rs = reason or ''
  a.pt = NOW
  rcall('HSET', k_agent(a.id), 'pr', pr, 'rs', a.rs, 'pt', NOW)
  sync(a)
  emit('agent.presence', nil, a.id, nil, {presence = pr, reason = reason})
end

local function expire_offers(limit, out)
  local n = 0
  local due = rcall('ZRANGEBYSCORE', K_OFFERS, '-inf', NOW, 'LIMIT', 0, limit)
  for _, tid in ipairs(due) do
    local t = hgetall(k_task(tid))
    if t and t.st == 'offered' then
      local a = agent(t.ag)
      unoffer(tid, t, a, 'task.rona', 'no-answer')
      if a then
        set_presence(a, 'not_ready', 'no-answer')
        out.no_answer[#out.no_answer + 1] = a.id
      end
      n = n + 1
    else
      rcall('ZREM', K_OFFERS, tid)
    end
  end
  return n
end

local function end_wrap(member)
  local sep1 = sfind(member, '|', 1, true)
  local sep2 = sfind(member, '|', sep1 + 1, true)
  local aid = ssub(member, 1, sep1 - 1)
  local tid = ssub(member, sep1 + 1, sep2 - 1)
  local ch = ssub(member, sep2 + 1)
  rcall('ZREM', k_wraps(), member)
  rcall('SREM', k_agent_wraps(aid), member)
  local a = agent(aid)
  if a then
    set_load(a, ch, -1)
    mark(a, 'idle', NOW)
    sync(a)
  end
  emit('agent.wrapup_ended', tid, aid, nil, {channel = ch})
  if a then logout_if_done(a) end
end

local function expire_wraps(limit)
  local due = rcall('ZRANGEBYSCORE', k_wraps(), '-inf', NOW, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do end_wrap(m) end
  return #due
end

-- a task is moved to its queue's overflow queue, unless it came from there (no task
-- goes round in circles: each queue it overflowed from is kept in 'ovf'); a target that is
-- closed, does not take the task's channel or does not exist is tried again later
local OVERFLOW_RETRY = 30
local function overflow(tid, t, cfg, out)
  local to = cfg.overflow_to
  local target = qcfg(to)
  local visited = t.ovf or '|'
  if sfind(visited, '|' .. to .. '|', 1, true) then return false end
  if not (target and target.open and takes(target, t.ch)) then -- (one not created yet too)
    rcall('ZADD', K_TIMERS, S(now + OVERFLOW_RETRY), 'o|' .. tid)
    return false
  end
  drop_from_queue(tid, t.q)
  t.sc = score(tonumber(t.prio), tonumber(t.enq), target)
  t.ovf = visited .. t.q .. '|'
  rcall('HSET', k_task(tid), 'q', to, 'sc', S(t.sc), 'ovf', t.ovf)
  put_in_queue(tid, t, to)
  emit('task.overflowed', tid, nil, to, {from_queue = t.q, waited = now - tonumber(t.enq)})
  out.overflowed[#out.overflowed + 1] = {tid, to, t.ch}
  return true
end

local function max_wait(tid, t, cfg, out)
  if t.mw == t.q then return false end -- once per queue (a queue it moves to has its own)
  local waited = now - tonumber(t.enq)
  if cfg.max_wait_action == 'withdraw' then
    drop_from_queue(tid, t.q)
    rcall('DEL', k_task(tid), k_rejected(tid))
    rcall('SREM', k_tasks(), tid)
    emit('task.withdrawn', tid, nil, t.q, {reason = 'max-wait', channel = t.ch, waited = waited})
    out.withdrawn[#out.withdrawn + 1] = {tid, t.ch}
  else
    rcall('HSET', k_task(tid), 'mw', t.q)
    emit('task.max_wait_reached', tid, nil, t.q, {channel = t.ch, waited = waited})
  end
  return true
end

-- the timers of every waiting task, once per key base: tasks that were waiting before
-- timers existed (an engine upgrade) get theirs at the first tick
local function arm_all()
  for _, q in ipairs(rcall('HKEYS', K_QUEUES)) do
    local cfg = qcfg(q)
    if timed(cfg) then rearm(q, cfg) end
  end
  rcall('SET', k_timers_armed(), '1')
end

local function expire_timers(limit, out)
  if rcall('EXISTS', k_timers_armed()) == 0 then arm_all() end
  local n = 0
  for _, m in ipairs(rcall('ZRANGEBYSCORE', K_TIMERS, '-inf', NOW, 'LIMIT', 0, limit)) do
    -- still due? an overflow earlier in this list re-armed the task's timers (same
    -- names) for its new queue
    local due = rcall('ZSCORE', K_TIMERS, m)
    if due and tonumber(due) <= now then
      rcall('ZREM', K_TIMERS, m)
      local kind, tid = ssub(m, 1, 1), ssub(m, 3)
      local t = hgetall(k_task(tid))
      local cfg = t and t.st == 'waiting' and qcfg(t.q) -- (none: gone, or not waiting)
      if cfg and kind == 'o' and cfg.overflow_to and cfg.overflow_after then
        if overflow(tid, t, cfg, out) then n = n + 1 end
      elseif cfg and kind == 'm' and cfg.max_wait then
        if max_wait(tid, t, cfg, out) then n = n + 1 end
      end
    end
  end
  return n
end

------------------------------------------------------------------ commands
local C = {}

function C.tick()
  local lim = tonumber(args.limit or 200)
  local out = {overflowed = {}, withdrawn = {}, no_answer = {}}
  out.rona = expire_offers(lim, out)
  out.wrapups = expire_wraps(lim)
  out.waits = expire_timers(lim, out)
  out.logged_out = LOGOUTS
  return out
end

function C.match()
  local limit = tonumber(args.limit or 32)
  local scan = tonumber(args.scan or 32)
  local look = tonumber(args.lookahead or 16)
  local maxexam = tonumber(args.max_examined or (limit * 4 + 64))
  -- tasks stepped over without a search (their requirements found nobody in this call):
  -- at most "maxskip" in a call and "qskip" in one queue, so that a queue's backlog
  -- nobody can take never keeps the other queues from their turn
  local maxskip = tonumber(args.max_skipped or 512)
  local qskip = tonumber(args.queue_skipped or 128)
  local skips = 0
  FAILED = {}
  -- a process is refilling a Redis that lost the state: no offers until it is complete
  -- (restored work must count in the agents' loads before they are offered more)
  if rcall('EXISTS', k_rebuild_lock()) == 1 then return {offers = {}, examined = 0, skipped = 0} end
  -- nobody can take anything: nothing to look at (a backlog while every agent is busy)
  local room = false
  for _, n in pairs(ROOM) do if n > 0 then room = true; break end end
  if not room then return {offers = {}, examined = 0, skipped = 0} end
  queue_heads()
  -- k-way merge in score order. Queues are opened in the order of their head from QH
  -- without changing it ("front": a min-heap of QH's indices, a node's children pushed
  -- when it is taken; QH is not reordered during the call, changes of heads are fixed
  -- at the end), and each opened queue is read on from its kept head in "opened", keyed
  -- by the score of its next task. A batch touches only the queues it serves.
  local front, opened = {}, {}
  if #QH > 0 then front[1] = 1 end
  local function flt(i, j) return qlt(QH[i], QH[j]) end
  local function olt(h1, h2)
    local k1, k2 = h1.b.e[h1.pos][2], h2.b.e[h2.pos][2]
    return k1 < k2 or (k1 == k2 and h1.q < h2.q)
  end
  -- the next queue in QH's order comes before the best opened one
  local function front_first()
    local i = front[1]
    if not i then return false end
    local h = opened[1]
    if not h then return true end
    local q = QH[i]
    local k1, k2 = qkey(q), h.b.e[h.pos][2]
    return k1 < k2 or (k1 == k2 and q < h.q)
  end
  local decisions, examined = {}, 0
  DIRTY = {}
  while #decisions < limit and examined < maxexam do
    while front_first() do
      local i = front[1]
      heap_take(front, 1, flt)
      if 2 * i <= #QH then heap_push(front, 2 * i, flt) end
      if 2 * i + 1 <= #QH then heap_push(front, 2 * i + 1, flt) end
      local q = QH[i]
      local cfg = qcfg(q)
      if cfg and cfg.open then
        heap_push(opened, {q = q, cfg = cfg, b = QB[q], pos = 1, skipped = 0, known = 0}, olt)
      end
    end
    local h = opened[1]
    if not h then break end
    -- an offered or stale task leaves the kept head (drop_from_queue) and the next one
    -- takes its place; a task left behind is stepped over
    local res, known = try_route(h.b.e[h.pos][1], h.q, h.cfg, scan)
    if known then
      skips = skips + 1
      h.known = h.known + 1
      h.pos = h.pos + 1
      if skips >= maxskip then break end
    else
      examined = examined + 1
      if res then
        decisions[#decisions + 1] = res
      elseif res == nil then
        h.pos = h.pos + 1
        h.skipped = h.skipped + 1
      end
    end
    if h.skipped < look and h.known < qskip and (h.pos <= #h.b.e or qb_more(h.q, h.b)) then
      heap_down(opened, 1, olt)
    else
      heap_take(opened, 1, olt)
    end
  end
  -- the queues served have later heads now (or none): QH is put right as a heap is
  -- built, each one moved down from the deepest up; then the empty ones leave it
  local dirty = {}
  for q, _ in pairs(DIRTY) do
    qhead(q)
    if QPOS[q] then dirty[#dirty + 1] = q end
  end
  DIRTY = nil
  if #dirty > 1 then tsort(dirty, function(x, y) return QPOS[x] > QPOS[y] end) end
  for _, q in ipairs(dirty) do heap_down(QH, QPOS[q], qlt, qmoved) end
  for _, q in ipairs(dirty) do
    if #QB[q].e == 0 then heap_take(QH, QPOS[q], qlt, qmoved); QPOS[q] = nil end
  end
  return {offers = decisions, examined = examined, skipped = skips}
end

function C.put_queue()
  local cfg = args.queue
  local old = qcfg(cfg.id)
  rcall('HSET', K_QUEUES, cfg.id, jencode(cfg))
  qcache[cfg.id] = cfg
  if old and (old.overflow_to ~= cfg.overflow_to or old.overflow_after ~= cfg.overflow_after
      or old.max_wait ~= cfg.max_wait) then
    rearm(cfg.id, cfg) -- the delays changed: the waiting tasks' timers follow
  end
  if not old then
    emit('queue.created', nil, nil, cfg.id, {open = cfg.open})
  elseif old.open ~= cfg.open then
    if cfg.open then emit('queue.opened', nil, nil, cfg.id, {}) else emit('queue.closed', nil, nil, cfg.id, {}) end
  else
    emit('queue.updated', nil, nil, cfg.id, {})
  end
  return {ok = true}
end

function C.set_queue_open()
  local cfg = qcfg(args.queue)
  if not cfg then return {err = 'queue_not_found'} end
  if cfg.open ~= args.open then
    local copy = {}
    for k, v in pairs(cfg) do copy[k] = v end
    cfg = copy
    qcache[args.queue] = cfg
    cfg.open = args.open
    rcall('HSET', K_QUEUES, args.queue, jencode(cfg))
    if cfg.open then emit('queue.opened', nil, nil, args.queue, {}) else emit('queue.closed', nil, nil, args.queue, {}) end
  end
  return {ok = true}
end

local function enqueue_one(t)
  local cfg = qcfg(t.queue)
  if not cfg then return {err = 'queue_not_found', task = t.id} end
  if not cfg.open and not t.restore then return {err = 'queue_closed', task = t.id} end
  if not takes(cfg, t.channel) then return {err = 'channel_not_taken', task = t.id} end
  if rcall('EXISTS', k_task(t.id)) == 1 then return {err = 'task_exists', task = t.id} end
  local sc = score(tonumber(t.priority), tonumber(t.enqueued_at), cfg)
  local rec = {q = t.queue, oq = t.origin_queue or t.queue, ch = t.channel, prio = t.priority, enq = t.enqueued_at,
               sc = sc, sk = jencode(t.skills or {}), st = 'waiting', ag = '',
               cust = jencode(t.customer or {}), attrs = jencode(t.attributes or {}),
               dl = t.deadline or '', nrej = 0, created = now}
  local flat = {}
  for k, v in pairs(rec) do
    flat[#flat + 1] = k
    if type(v) == 'number' then v = S(v) end
    flat[#flat + 1] = v
  end
  rcall('HSET', k_task(t.id), unpack(flat))
  rcall('SADD', k_tasks(), t.id)
  if t.assigned_to then
    -- rebuild: work that was in hand when Redis lost its state stays with its agent
    local a = agent(t.assigned_to)
    if a then
      rcall('HSET', k_task(t.id), 'st', 'assigned', 'ag', t.assigned_to, 'at', NOW, 'ot', NOW,
                 'ex', jencode({restored = true}))
      rcall('SADD', k_agent_tasks(t.assigned_to), t.id)
      set_load(a, t.channel, 1)
      sync(a)
      emit('task.restored', t.id, t.assigned_to, t.queue, {channel = t.channel, state = 'assigned'})
      return {ok = true, task = t.id}
    end
  end
  put_in_queue(t.id, {sc = sc, enq = t.enqueued_at}, t.queue)
  emit('task.enqueued', t.id, nil, t.queue, {channel = t.channel, priority = t.priority, enqueued_at = t.enqueued_at})
  return {ok = true, task = t.id}
end

function C.enqueue()
  local out = {}
  for _, t in ipairs(args.tasks) do out[#out + 1] = enqueue_one(t) end
  return out
end

function C.withdraw()
  local tid = args.task
  local t = hgetall(k_task(tid))
  if not t then return {err = 'task_not_found'} end
  if t.st == 'assigned' then return {err = 'task_assigned'} end
  if t.st == 'waiting' then
    drop_from_queue(tid, t.q)
  elseif t.st == 'offered' then
    rcall('ZREM', K_OFFERS, tid)
    rcall('SREM', k_agent_tasks(t.ag), tid)
    local a = agent(t.ag)
    if a then set_load(a, t.ch, -1); sync(a) end
  end
  rcall('DEL', k_task(tid), k_rejected(tid))
  rcall('SREM', k_tasks(), tid)
  emit('task.withdrawn', tid, nil, t.q, {reason = args.reason or 'withdrawn', channel = t.ch, waited = now - tonumber(t.enq)})
  return {ok = true}
end

local function offered_to(tid, aid)
  local t = hgetall(k_task(tid))
  if not t then return nil, {err = 'task_not_found'} end
  if t.st ~= 'offered' or t.ag ~= aid then return nil, {err = 'not_offered'} end
  return t, nil
end

function C.accept()
  local out = {}
  for _, pair in ipairs(args.offers) do
    local tid, aid = pair[1], pair[2]
    local v = rcall('HMGET', k_task(tid), 'st', 'ag', 'q', 'ch', 'ot', 'enq', 'ex')
    local t, e = nil, nil
    if not v[1] then
      e = {err = 'task_not_found'}
    elseif v[1] ~= 'offered' or v[2] ~= aid then
      e = {err = 'not_offered'}
    else
      t = {q = v[3], ch = v[4], ot = v[5], enq = v[6], ex = v[7]}
    end
    if e then
      e.task = tid
      out[#out + 1] = e
    else
      rcall('ZREM', K_OFFERS, tid)
      rcall('HSET', k_task(tid), 'st', 'assigned', 'at', NOW, 'ou', '')
      emit('task.accepted', tid, aid, t.q, {channel = t.ch})
      -- the stored explanation is already JSON: spliced in, not decoded and re-encoded
      rcall('XADD', K_EVENTS, 'MAXLEN', '~', STREAM_MAX, '*', 'e',
        '{"type":"task.assigned","at":' .. NOW .. ',"task_id":' .. jencode(tid) ..
        ',"agent_id":' .. jencode(aid) .. ',"queue_id":' .. jencode(t.q) ..
        ',"payload":{"channel":' .. jencode(t.ch) .. ',"waited":' .. S(tonumber(t.ot) - tonumber(t.enq)) ..
        ',"explanation":' .. t.ex .. '}}')
      out[#out + 1] = {ok = true, task = tid, channel = t.ch, queue = t.q}
    end
  end
  return out
end

function C.reject()
  local t, e = offered_to(args.task, args.agent)
  if e then return e end
  unoffer(args.task, t, agent(args.agent), 'task.rejected', args.reason or 'rejected')
  sync(agent(args.agent))
  return {ok = true}
end

-- the channel saw the offer go unanswered (e.g. the agent's phone rang out): RONA now,
-- exactly as if the offer had timed out
function C.rona()
  local t, e = offered_to(args.task, args.agent)
  if e then return e end
  local a = agent(args.agent)
  unoffer(args.task, t, a, 'task.rona', args.reason or 'no-answer')
  if a then set_presence(a, 'not_ready', args.reason or 'no-answer') end
  return {ok = true}
end

function C.finish()
  local out = {}
  for _, pair in ipairs(args.tasks) do
    local tid, aid = pair[1], pair[2]
    local v = rcall('HMGET', k_task(tid), 'st', 'ag', 'q', 'ch', 'at')
    local t = nil
    if v[1] then t = {st = v[1], ag = v[2], q = v[3], ch = v[4], at = v[5]} end
    if not t then
      out[#out + 1] = {err = 'task_not_found', task = tid}
    elseif t.st ~= 'assigned' or t.ag ~= aid then
      out[#out + 1] = {err = 'not_assigned', task = tid}
    else
      local cfg = qcfg(t.q) or {}
      local wrap = tonumber(cfg.wrapup or 0)
      rcall('DEL', k_task(tid), k_rejected(tid))
      rcall('SREM', k_tasks(), tid)
      rcall('SREM', k_agent_tasks(aid), tid)
      local handled = now - tonumber(t.at)
      if rcall('LPUSH', k_handle_times(t.q), S(handled)) > 100 then
        rcall('LTRIM', k_handle_times(t.q), 0, 49)
      end
      emit('task.completed', tid, aid, t.q, {channel = t.ch, handle_time = handled})
      local a = agent(aid)
      if a then
        if wrap > 0 then
          local m = aid .. '|' .. tid .. '|' .. t.ch
          rcall('ZADD', k_wraps(), S(now + wrap), m)
          rcall('SADD', k_agent_wraps(aid), m)
          emit('agent.wrapup_started', tid, aid, t.q, {channel = t.ch, until_at = now + wrap})
        else
          set_load(a, t.ch, -1)
          mark(a, 'idle', NOW)
          sync(a)
          logout_if_done(a)
        end
      end
      out[#out + 1] = {ok = true, task = tid, logged_out = LOGOUTS[#LOGOUTS] == aid}
    end
  end
  return out
end

function C.end_wrapup()
  local ms = rcall('SMEMBERS', k_agent_wraps(args.agent))
  for _, m in ipairs(ms) do end_wrap(m) end
  return {ok = true, ended = #ms, logged_out = #LOGOUTS > 0}
end

function C.put_agent()
  local x = args.agent
  local a = agent(x.id)
  if a then unsync(a) end
  local sk = jencode(x.skills)
  local cap = jencode(x.capacity)
  local blk = jencode(x.blocks)
  if not a then
    local pr = x.presence or 'not_ready'
    local idle = S(x.idle_since or now)
    local fields = {'pr', pr, 'rs', x.reason or '', 'sk', sk, 'cap', cap, 'blk', blk, 'idle', idle, 'pt', NOW}
    -- work on each channel "last changed" at login: a channel's time then moves only
    -- with work on that channel, so work on another one never reorders its index
    for ch, _ in pairs(x.capacity) do
      fields[#fields + 1] = 'since:' .. ch
      fields[#fields + 1] = idle
    end
    rcall('HSET', k_agent(x.id), unpack(fields))
    rcall('SADD', k_agents(), x.id)
    AG[x.id] = nil
    a = agent(x.id)
    emit('agent.login', nil, x.id, nil, {presence = pr})
  else
    rcall('HSET', k_agent(x.id), 'sk', sk, 'cap', cap, 'blk', blk)
    a.skills, a.caps, a.blocks, a.sk, a.cap, a.blk = x.skills, x.capacity, x.blocks, sk, cap, blk
    emit('agent.updated', nil, x.id, nil, {skills = x.skills, capacity = x.capacity})
  end
  sync(a)
  return {ok = true}
end

function C.presence()
  local a = agent(args.agent)
  if not a then return {err = 'agent_not_found'} end
  if args.presence == 'offline' then
    -- offers in flight go back to their place; work in hand is finished normally
    for _, tid in ipairs(rcall('SMEMBERS', k_agent_tasks(a.id))) do
      local t = hgetall(k_task(tid))
      if t and t.st == 'offered' then unoffer(tid, t, a, 'task.rejected', 'agent-logout') end
    end
  end
  set_presence(a, args.presence, args.reason)
  sync(a)
  logout_if_done(a)
  return {ok = true, logged_out = #LOGOUTS > 0}
end

function C.set_priority()
  local tid = args.task
  local t = hgetall(k_task(tid))
  if not t then return {err = 'task_not_found'} end
  local cfg = qcfg(t.q)
  t.sc = score(tonumber(args.priority), tonumber(t.enq), cfg)
  rcall('HSET', k_task(tid), 'prio', S(args.priority), 'sc', S(t.sc))
  if t.st == 'waiting' then
    -- the task may become its queue's head, or stop being it: the kept head follows
    rcall('ZADD', k_queue_wait(t.q), S(t.sc), tid)
    qb_del(t.q, tid)
    qb_add(t.q, tid, t.sc)
  end
  emit('task.priority_changed', tid, nil, t.q, {from_priority = tonumber(t.prio), priority = args.priority})
  return {ok = true}
end

function C.move()
  local tid = args.task
  local t = hgetall(k_task(tid))
  if not t then return {err = 'task_not_found'} end
  local cfg = qcfg(args.queue)
  if not cfg then return {err = 'queue_not_found'} end
  if t.st ~= 'waiting' then return {err = 'task_not_waiting'} end
  if not cfg.open then return {err = 'queue_closed'} end
  if not takes(cfg, t.ch) then return {err = 'channel_not_taken'} end
  drop_from_queue(tid, t.q)
  t.sc = score(tonumber(t.prio), tonumber(t.enq), cfg)
  rcall('HSET', k_task(tid), 'q', args.queue, 'sc', S(t.sc))
  put_in_queue(tid, t, args.queue)
  emit('task.moved', tid, nil, args.queue, {from_queue = t.q})
  return {ok = true}
end

-- The cache of agents, index and queue configurations (AG, IX, IXS, BLK, qcache above)
-- of each key base, kept between calls. It is valid only while the base's version key
-- holds the stamp this cache wrote at the end of its last call: every call of this
-- library writes a new stamp, so a change made by any other copy of the engine (another
-- version of the library, another Redis this one replicated from, a database of the same
-- name) or an emptied Redis leaves a stamp this cache does not know, and the cache is
-- built again from the agent hashes. A call that fails half-way leaves its cache without
-- a stamp: built again too. When a cache is built, the caches of other key bases that
-- are no longer valid (their keys deleted, say) are dropped; past CACHE_MAX key bases
-- the least recently used one is dropped too.
local CACHES, NCACHES, CALLS = {}, 0, 0
local CACHE_MAX = 16

local function version_key(base)
  local here = P
  P = base
  local k = k_version()
  P = here
  return k
end

local function drop_caches()
  for base, x in pairs(CACHES) do
    if base ~= P and rcall('GET', version_key(base)) ~= x.stamp then
      CACHES[base] = nil
      NCACHES = NCACHES - 1
    end
  end
  if NCACHES >= CACHE_MAX then
    local oldest, used = nil, nil
    for base, x in pairs(CACHES) do
      if base ~= P and (not used or x.used < used) then oldest, used = base, x.used end
    end
    if oldest then CACHES[oldest] = nil; NCACHES = NCACHES - 1 end
  end
end

local function build_cache()
  drop_caches()
  if not CACHES[P] then NCACHES = NCACHES + 1 end
  local t = rcall('TIME')
  local c = {id = t[1] .. '.' .. t[2] .. '.' .. CALLS, n = 0, ag = {}, ix = {}, ixs = {}, blk = {},
             star = {}, qc = {}, room = {}}
  CACHES[P] = c
  AG, IX, IXS, BLK, STAR, ROOM = c.ag, c.ix, c.ixs, c.blk, c.star, c.room
  -- filed channel by channel in time order (then by id), so each lands at the tail
  local byc = {}
  for _, aid in ipairs(rcall('SMEMBERS', k_agents())) do
    local a = read_agent(aid)
    if a then
      AG[aid] = a
      for ch, _ in pairs(a.caps) do
        if has_room(a, ch) then
          local l = byc[ch]
          if not l then l = {}; byc[ch] = l end
          l[#l + 1] = {tonumber(a[fields(ch).since] or a.idle or '0'), aid}
        end
      end
    end
  end
  for ch, l in pairs(byc) do
    tsort(l, by_time)
    for _, x in ipairs(l) do ix_put(AG[x[2]], ch, x[1]) end
    for _, x in ipairs(l) do ix_blocked(AG[x[2]], ch, is_blocked(AG[x[2]], ch)) end
  end
  return c
end

local function use_cache(K_VERSION)
  CALLS = CALLS + 1
  local c = CACHES[P]
  if not c or c.stamp ~= rcall('GET', K_VERSION) then c = build_cache() end
  AG, IX, IXS, BLK, STAR, qcache, ROOM = c.ag, c.ix, c.ixs, c.blk, c.star, c.qc, c.room
  QB, QH, QPOS, CACHE = c.qb, c.qh, c.qpos, c
  c.used = CALLS
  c.stamp = nil
  return c
end

local function acd(keys, argv)
  if not rcall then bind_globals() end
  P, cmd, now = keys[1], argv[1], tonumber(argv[2])
  local fn = C[cmd]
  if not fn then return redis_error_reply('unknown ACD command ' .. tostring(cmd)) end
  args = jdecode(argv[3])
  strip_nulls(args)
  STREAM_MAX, NOW = argv[4], S(now)
  DIRTY = nil
  LOGOUTS = {}
  K_EVENTS, K_OFFERS, K_QUEUES, K_TIMERS = k_events(), k_offers(), k_queues(), k_timers()
  local K_VERSION = k_version()
  local c = use_cache(K_VERSION)
  local out = jencode(fn())
  c.n = c.n + 1
  c.stamp = c.id .. ':' .. c.n
  rcall('SET', K_VERSION, c.stamp)
  return out
end

redis.register_function(FUNCTION_NAME, acd)
