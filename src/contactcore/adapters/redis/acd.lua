-- The ACD's state changes, each one atomic (one function call = one transaction).
-- A Redis function library: it is loaded once (FUNCTION LOAD), so the helpers below are
-- built once, not on every call as an EVAL script's body would be. One function, named
-- by routing_store.py, takes keys[1] = key base ("<prefix>:{acd}") and args = command,
-- now, JSON args, stream max length; acd() at the end sets the per-call state below.
-- The key helpers k_*() are inserted from keys.py. Every change appends its domain
-- events to the stream inside the same call, so state and history never disagree.
local P, cmd, now, args, STREAM_MAX, NOW
-- keys without a variable part, built once per call (acd() below)
local K_EVENTS, K_OFFERS, K_QWAIT, K_QUEUES
-- JSON null decodes to a truthy value; drop it so "x or default" works
local function strip_nulls(t)
  for k, v in pairs(t) do
    if v == cjson.null then t[k] = nil elseif type(v) == 'table' then strip_nulls(v) end
  end
end
local NO_AGING = 10000000 -- seconds per priority point when aging is off
-- Redis 7 refuses non-integer Lua numbers as command arguments
local function S(x) return string.format('%.17g', x) end
-- JSON text of a string, as cjson.encode writes it; strings that need no escaping (ids,
-- names) are quoted without a call into cjson
local function jstr(x)
  if string.find(x, '[%c"\\]') then return cjson.encode(x) end
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

local function emit(typ, tid, aid, qid, payload)
  local ev = {type = typ, at = now, payload = payload or {}}
  if tid then ev.task_id = tid end
  if aid then ev.agent_id = aid end
  if qid then ev.queue_id = qid end
  redis.call('XADD', K_EVENTS, 'MAXLEN', '~', STREAM_MAX, '*', 'e', cjson.encode(ev))
end

local function hgetall(key)
  local h = redis.call('HGETALL', key)
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
local decoded = memo(function(raw) return cjson.decode(raw) end, JSON_MEMO_MAX)

-- queue configuration, read once per call
local qcache
local function qcfg(q)
  local c = qcache[q]
  if c == nil then
    local raw = redis.call('HGET', K_QUEUES, q)
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
    f = {ld = 'ld:' .. ch, since = 'since:' .. ch, inx = 'in:' .. ch, bk = 'bk:' .. ch}
    FIELDS[ch] = f
  end
  return f
end

-- agents, decoded once per call
local acache
local function agent(aid)
  local a = acache[aid]
  if a == nil then
    a = hgetall(k_agent(aid))
    if a then
      a.id = aid
      a.skills = decoded(a.sk)
      a.caps = decoded(a.cap)
      a.blocks = decoded(a.blk)
    else
      a = false
    end
    acache[aid] = a
  end
  return a
end

local function load(a, ch) return tonumber(a[fields(ch).ld] or '0') end

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

-- Availability index: one sorted set per channel and skill. The score puts the level
-- first (higher level = lower score) and the time the agent's work on the channel last
-- changed second, so one range query answers "level >= n", the first member is the best
-- level and longest idle, and each level band is ordered by idle time.
local BASE = 1700000000
local BAND = 10000000000
local function avscore(level, since) return S((10 - level) * BAND + (since - BASE)) end
-- band bounds are built once per library load, index key names once per call
local BANDS_LO, BANDS_HI, AVKEYS = {}, {}, nil
local function band_hi(level)
  local b = BANDS_HI[level]
  if not b then b = S((10 - level) * BAND + BAND / 2); BANDS_HI[level] = b end
  return b
end
local function band_lo(level)
  local b = BANDS_LO[level]
  if not b then b = S((10 - level) * BAND - BAND / 2); BANDS_LO[level] = b end
  return b
end
local function avkey(ch, skill)
  local byc = AVKEYS[ch]
  if not byc then byc = {}; AVKEYS[ch] = byc end
  local k = byc[skill]
  if not k then k = k_avail(ch, skill); byc[skill] = k end
  return k
end
local function unscore(sc)
  local band = math.floor((sc + BAND / 2) / BAND)
  return 10 - band, sc - band * BAND + BASE
end

-- Agents blocked on a channel by a cross-channel rule, read once per call (SMEMBERS) and
-- kept in step with the writes of this call.
local BLOCKED
local function blocked_on(ch)
  local b = BLOCKED[ch]
  if not b then
    b = {n = 0, set = {}}
    for _, aid in ipairs(redis.call('SMEMBERS', k_blocked(ch))) do
      b.set[aid] = true
      b.n = b.n + 1
    end
    BLOCKED[ch] = b
  end
  return b
end
local function set_blocked(a, ch, on)
  local b = BLOCKED[ch]
  if on then
    redis.call('SADD', k_blocked(ch), a.id)
    if b and not b.set[a.id] then b.set[a.id] = true; b.n = b.n + 1 end
  else
    redis.call('SREM', k_blocked(ch), a.id)
    if b and b.set[a.id] then b.set[a.id] = nil; b.n = b.n - 1 end
  end
end

-- Keep the availability index true. An agent is in av:<ch>:<skill> for each of its skills
-- (and av:<ch>:*) exactly when it has room on <ch> (available, load below capacity); the
-- score is its level and when its work on <ch> last changed (longest idle = lowest).
-- An agent with room on <ch> but blocked there by work on another channel (a call in
-- hand blocks chats and emails) stays in that index and is also in blk:<ch>; matching
-- skips the members of blk:<ch> and subtracts them from the eligible count. So a call
-- taken or finished rewrites the voice entries (one per skill) and two set members,
-- not every channel's entries. Field "in:<ch>" remembers the indexed "since", "bk:<ch>"
-- the blocked flag. Fields changed in memory since the agent was read (a.dirty) are
-- written here too, so one change of an agent costs one hash write.
local function sync(a)
  local flags = a.dirty or {}
  a.dirty = nil
  for ch, _ in pairs(a.caps) do
    local f = fields(ch)
    local room = has_room(a, ch)
    local cur = a[f.inx] or ''
    if room then
      local sc = a[f.since] or a.idle or '0'
      if cur ~= sc then
        local since = tonumber(sc)
        for skill, lvl in pairs(a.skills) do
          redis.call('ZADD', avkey(ch, skill), avscore(tonumber(lvl), since), a.id)
        end
        redis.call('ZADD', avkey(ch, '*'), avscore(1, since), a.id)
        a[f.inx] = sc
        flags[#flags + 1] = f.inx
        flags[#flags + 1] = sc
      end
    elseif cur ~= '' then
      for skill, _ in pairs(a.skills) do
        redis.call('ZREM', avkey(ch, skill), a.id)
      end
      redis.call('ZREM', avkey(ch, '*'), a.id)
      a[f.inx] = ''
      flags[#flags + 1] = f.inx
      flags[#flags + 1] = ''
    end
    local bk = ''
    if room and is_blocked(a, ch) then bk = '1' end
    if bk ~= (a[f.bk] or '') then
      set_blocked(a, ch, bk == '1')
      a[f.bk] = bk
      flags[#flags + 1] = f.bk
      flags[#flags + 1] = bk
    end
  end
  if #flags > 0 then redis.call('HSET', k_agent(a.id), unpack(flags)) end
end

-- remove from every index and blocked set (before skills or capacities change, or on
-- delete)
local function unsync(a)
  for ch, _ in pairs(a.caps) do
    if (a['in:' .. ch] or '') ~= '' then
      for skill, _ in pairs(a.skills) do
        redis.call('ZREM', avkey(ch, skill), a.id)
      end
      redis.call('ZREM', avkey(ch, '*'), a.id)
      a['in:' .. ch] = ''
      redis.call('HSET', k_agent(a.id), 'in:' .. ch, '')
    end
    if (a['bk:' .. ch] or '') ~= '' then
      set_blocked(a, ch, false)
      a['bk:' .. ch] = ''
      redis.call('HSET', k_agent(a.id), 'bk:' .. ch, '')
    end
  end
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
  mark(a, f.ld, tostring(load(a, ch) + delta))
  mark(a, f.since, NOW)
end

-- requirements after relaxation: the queue's skills merged with the task's own, each
-- level lowered to the cap of the last step reached, never below 1 (the skill itself
-- is never dropped)
local function by_skill(x, y) return x[1] < y[1] end
-- requirements of tasks without skills of their own, per queue configuration table and
-- relaxation step (never modified); bounded like the memos above
local QREQ, QREQ_N = {}, 0
local function requirements(cfg, t, wait)
  local step, cap = 0, nil
  for i, st in ipairs(cfg.relax or {}) do
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
    for s, l in pairs(cjson.decode(own)) do
      if req[s] == nil or tonumber(l) > req[s] then req[s] = tonumber(l) end
    end
  end
  local list = {}
  for s, l in pairs(req) do
    if cap and l > cap then l = cap end
    if l < 1 then l = 1 end
    list[#list + 1] = {s, l}
  end
  if #list > 1 then table.sort(list, by_skill) end
  if #list == 0 then list[1] = {'*', 1} end
  if plain then bystep[step] = list end
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

-- Find the agent for a task. Candidates come from the availability index of the first
-- required skill at the required level or above; every candidate there has room on the
-- channel, so only the blocked set, the exclusions (recent refusals) and the other
-- skills need checking. "skip" = excluded or blocked; its members in the range are
-- subtracted from the count (one ZMSCORE), and reads page past them.
local FULL_FETCH = 48
local SKIP_PAGE = 16 -- extra members read per page past skipped ones (slow path)
local NO_EXCL = {} -- never written
local NO_BANDS = {} -- never written
-- The search state of find_agent, in upvalues rather than closures made per decision.
local fa_key, fa_strategy, fa_req, fa_skip, best, runner
-- candidate tables are made only for the best two
local function consider(aid, sc, a)
  local L, since = unscore(tonumber(sc))
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
-- the first "want" members of a score range that are not skipped; "inside" = how many
-- skipped members the range holds, so one read of want + inside is always enough
local function take(lo, hi2, want, inside)
  local m = redis.call('ZRANGEBYSCORE', fa_key, lo, hi2, 'WITHSCORES', 'LIMIT', '0', want + inside)
  local found = 0
  local skip = fa_skip
  for i = 1, #m, 2 do
    if not skip[m[i]] then
      consider(m[i], m[i + 1], nil)
      found = found + 1
      if found >= want then return end
    end
  end
end
local function find_agent(ch, req, strategy, excl, scan)
  local ps, pl = req[1][1], req[1][2]
  local key = avkey(ch, ps)
  local hi = band_hi(pl)
  local fast = (#req == 1) and strategy ~= 'least_occupied'
  best, runner = nil, nil
  local eligible, exact = 0, true
  local bl = blocked_on(ch)
  local skip, skiplist, nskip = bl.set, nil, bl.n
  if excl ~= NO_EXCL and next(excl) then
    skip = {}
    nskip = 0
    for aid, _ in pairs(bl.set) do skip[aid] = true; nskip = nskip + 1 end
    for aid, _ in pairs(excl) do
      if not skip[aid] then skip[aid] = true; nskip = nskip + 1 end
    end
  end
  fa_key, fa_strategy, fa_req, fa_skip = key, strategy, req, skip
  if fast then
    eligible = redis.call('ZCOUNT', key, '-inf', hi)
    -- skipped members of the range, counted per level band (one ZMSCORE)
    local inband, inrange = NO_BANDS, 0
    if nskip > 0 and eligible > 0 then
      inband = {}
      skiplist = {}
      for aid, _ in pairs(skip) do skiplist[#skiplist + 1] = aid end
      local scores = redis.call('ZMSCORE', key, unpack(skiplist))
      local top = tonumber(hi)
      for i = 1, #skiplist do
        local sc = scores[i]
        if sc then
          sc = tonumber(sc)
          if sc <= top then
            inrange = inrange + 1
            local L = unscore(sc)
            inband[L] = (inband[L] or 0) + 1
          end
        end
      end
      eligible = eligible - inrange
    end
    if eligible <= 0 then return nil, nil, 0, true end
    if strategy == 'best_skill' then
      take('-inf', hi, 2, inrange)
    elseif eligible + inrange <= FULL_FETCH then
      local m = redis.call('ZRANGEBYSCORE', key, '-inf', hi, 'WITHSCORES')
      for i = 1, #m, 2 do
        if not skip[m[i]] then consider(m[i], m[i + 1], nil) end
      end
    else
      -- once there is a runner-up, a band only matters for members idle longer than it:
      -- reading only those keeps the later bands' replies short (often empty)
      for L = 10, pl, -1 do
        local upper = band_hi(L)
        if runner then upper = '(' .. avscore(L, runner.since) end
        take(band_lo(L), upper, 2, inband[L] or 0)
      end
    end
  else
    -- up to "scan" candidates that are not skipped, in level order
    local off, seen = 0, 0
    local page = scan + math.min(nskip, SKIP_PAGE)
    while seen < scan do
      local m = redis.call('ZRANGEBYSCORE', key, '-inf', hi, 'WITHSCORES', 'LIMIT', off, page)
      for i = 1, #m, 2 do
        local aid = m[i]
        if not skip[aid] then
          seen = seen + 1
          local a = agent(aid)
          if a and skills_ok(a, req) then
            eligible = eligible + 1
            consider(aid, m[i + 1], a)
          end
          if seen >= scan then break end
        end
      end
      if #m < 2 * page then break end
      off = off + page
    end
    if seen >= scan then exact = false end
  end
  return best, runner, eligible, exact
end

local function why(strategy, w, r)
  local s
  if strategy == 'best_skill' then
    s = string.format('best skill level %d, then longest idle (free since %.3f)', -w.k1, w.since)
    if r then s = s .. string.format('; next best level %d free since %.3f (%s)', -r.k1, r.since, r.aid) end
  elseif strategy == 'least_occupied' then
    s = string.format('least occupied (%.0f%% of capacity in use), then longest idle (free since %.3f)', w.k1 * 100, w.since)
    if r then s = s .. string.format('; next %.0f%% (%s)', r.k1 * 100, r.aid) end
  else
    s = string.format('longest idle: free since %.3f', w.since)
    if r then s = s .. string.format('; next free since %.3f (%s)', r.since, r.aid) end
  end
  return s
end

-- queues_waiting is a sorted set of queue ids scored by the score of their head task, so
-- that matching can merge the queues in global order and open only the ones it reaches
local function refresh_head(q)
  local h = redis.call('ZRANGE', k_queue_wait(q), 0, 0, 'WITHSCORES')
  if #h == 0 then
    redis.call('ZREM', K_QWAIT, q)
  else
    redis.call('ZADD', K_QWAIT, h[2], q)
  end
end

local deferred_heads = nil -- set while matching: heads are refreshed once at the end
local function drop_from_queue(tid, q)
  redis.call('ZREM', k_queue_wait(q), tid)
  redis.call('ZREM', k_queue_enq(q), tid)
  if deferred_heads then deferred_heads[q] = true else refresh_head(q) end
end

local function put_in_queue(tid, t, q)
  local sc = S(tonumber(t.sc))
  redis.call('ZADD', k_queue_wait(q), sc, tid)
  redis.call('ZADD', k_queue_enq(q), S(tonumber(t.enq)), tid)
  local cur = redis.call('ZSCORE', K_QWAIT, q)
  if not cur or tonumber(t.sc) < tonumber(cur) then
    redis.call('ZADD', K_QWAIT, sc, q)
  end
end

local function offer(tid, t, q, cfg, best, runner, eligible, exact, step, req)
  local a = agent(best.aid)
  local ch = t.ch
  local timeout = tonumber(cfg.offer_timeout or 20)
  local wait = now - tonumber(t.enq)
  local required
  if #req == 1 then
    if req[1][1] == '*' then required = '' else required = jname(req[1][1]) .. ':' .. req[1][2] end
  else
    local parts = {}
    for _, r in ipairs(req) do
      if r[1] ~= '*' then parts[#parts + 1] = jname(r[1]) .. ':' .. r[2] end
    end
    required = table.concat(parts, ',')
  end
  local strategy = cfg.strategy or 'longest_idle'
  local ru = ''
  if runner then
    ru = ',"runner_up":{"agent":' .. jname(runner.aid) .. ',"level":' .. runner.level ..
      ',"free_since":' .. runner.since .. '}'
  end
  -- the explanation is written as JSON text directly, in one concatenation (what
  -- cjson.encode of the same table would give, numbers with the same 14 digits), without
  -- building tables for it
  local prio = tonumber(t.prio)
  local ex = '{"strategy":' .. jname(strategy) .. ',"step":' .. step ..
    ',"required":{' .. required .. '}' ..
    ',"priority":' .. eff_priority(prio, tonumber(t.enq), cfg) ..
    ',"base_priority":' .. prio .. ',"waited":' .. wait ..
    ',"eligible":' .. eligible .. ',"eligible_exact":' .. tostring(exact) ..
    ',"winner":{"agent":' .. jname(best.aid) .. ',"level":' .. best.level ..
    ',"free_since":' .. best.since .. ',"occupancy":' .. occupancy(a) .. '}' ..
    ',"why":' .. jstr(why(strategy, best, runner)) .. ru .. '}'
  local until_s = S(now + timeout)
  drop_from_queue(tid, q)
  redis.call('HSET', k_task(tid), 'st', 'offered', 'ag', best.aid, 'ou', until_s, 'ex', ex, 'ot', NOW)
  redis.call('ZADD', K_OFFERS, until_s, tid)
  redis.call('SADD', k_agent_tasks(best.aid), tid)
  if redis.call('LPUSH', k_departures(q), NOW) > 40 then
    redis.call('LTRIM', k_departures(q), 0, 19)
  end
  set_load(a, ch, 1)
  sync(a)
  -- the explanation is encoded once, for the task and for the event
  redis.call('XADD', K_EVENTS, 'MAXLEN', '~', STREAM_MAX, '*', 'e',
    '{"type":"task.offered","at":' .. NOW .. ',"task_id":' .. jstr(tid) ..
    ',"agent_id":' .. jname(best.aid) .. ',"queue_id":' .. jname(q) ..
    ',"payload":{"channel":' .. jname(ch) .. ',"timeout":' .. S(timeout) ..
    ',"explanation":' .. ex .. '}}')
  return {tid, best.aid, q, ch}
end

-- the fields of a waiting task that matching reads (not its customer, attributes ...)
local function routing_fields(tid)
  local v = redis.call('HMGET', k_task(tid), 'st', 'ch', 'enq', 'prio', 'sk', 'nrej')
  if not v[1] then return nil end
  return {st = v[1], ch = v[2], enq = v[3], prio = v[4], sk = v[5], nrej = v[6]}
end

local function try_route(tid, q, cfg, nomatch, scan)
  local t = routing_fields(tid)
  if not t or t.st ~= 'waiting' then
    drop_from_queue(tid, q)
    return false -- a stale entry, now gone: not a skip
  end
  local wait = now - tonumber(t.enq)
  local step, req = requirements(cfg, t, wait)
  local nrej = tonumber(t.nrej or '0')
  local ck = nil
  if nrej == 0 then
    if #req == 1 then
      ck = t.ch .. '|' .. (cfg.strategy or '') .. '|' .. req[1][1] .. '=' .. req[1][2]
    else
      local parts = {t.ch, cfg.strategy or ''}
      for _, r in ipairs(req) do parts[#parts + 1] = r[1] .. '=' .. r[2] end
      ck = table.concat(parts, '|')
    end
    if nomatch[ck] then return nil end
  end
  local excl = NO_EXCL
  if nrej > 0 then
    excl = {}
    -- an agent who rejected or missed the task is skipped for reoffer_after seconds
    local since = S(now - tonumber(cfg.reoffer_after or 30))
    for _, x in ipairs(redis.call('ZRANGEBYSCORE', k_rejected(tid), since, '+inf')) do excl[x] = true end
  end
  local best, runner, eligible, exact = find_agent(t.ch, req, cfg.strategy or 'longest_idle', excl, scan)
  if not best then
    if ck then nomatch[ck] = true end
    return nil
  end
  return offer(tid, t, q, cfg, best, runner, eligible, exact, step, req)
end

-- put an offered task back in its original place; the agent's slot is freed
local function unoffer(tid, t, a, typ, reason)
  local q = t.q
  redis.call('ZREM', K_OFFERS, tid)
  redis.call('SREM', k_agent_tasks(t.ag), tid)
  redis.call('ZADD', k_rejected(tid), NOW, t.ag)
  redis.call('HINCRBY', k_task(tid), 'nrej', 1)
  redis.call('HSET', k_task(tid), 'st', 'waiting', 'ag', '', 'ou', '')
  put_in_queue(tid, t, q)
  if a then set_load(a, t.ch, -1); sync(a) end
  emit(typ, tid, t.ag, q, {reason = reason, channel = t.ch})
end

local function set_presence(a, pr, reason)
  if a.pr == pr and (a.rs or '') == (reason or '') then return end
  a.pr = pr
  a.rs = reason or ''
  redis.call('HSET', k_agent(a.id), 'pr', pr, 'rs', a.rs, 'pt', NOW)
  sync(a)
  emit('agent.presence', nil, a.id, nil, {presence = pr, reason = reason})
end

local function expire_offers(limit)
  local n = 0
  local due = redis.call('ZRANGEBYSCORE', K_OFFERS, '-inf', NOW, 'LIMIT', 0, limit)
  for _, tid in ipairs(due) do
    local t = hgetall(k_task(tid))
    if t and t.st == 'offered' then
      local a = agent(t.ag)
      unoffer(tid, t, a, 'task.rona', 'no-answer')
      if a then set_presence(a, 'not_ready', 'no-answer') end
      n = n + 1
    else
      redis.call('ZREM', K_OFFERS, tid)
    end
  end
  return n
end

local function end_wrap(member)
  local sep1 = string.find(member, '|', 1, true)
  local sep2 = string.find(member, '|', sep1 + 1, true)
  local aid = string.sub(member, 1, sep1 - 1)
  local tid = string.sub(member, sep1 + 1, sep2 - 1)
  local ch = string.sub(member, sep2 + 1)
  redis.call('ZREM', k_wraps(), member)
  redis.call('SREM', k_agent_wraps(aid), member)
  local a = agent(aid)
  if a then
    set_load(a, ch, -1)
    mark(a, 'idle', NOW)
    sync(a)
  end
  emit('agent.wrapup_ended', tid, aid, nil, {channel = ch})
end

local function expire_wraps(limit)
  local due = redis.call('ZRANGEBYSCORE', k_wraps(), '-inf', NOW, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do end_wrap(m) end
  return #due
end

-- overflow and maximum wait, driven by the enqueued-at index of each waiting queue
local function expire_waits(limit)
  local n = 0
  for _, q in ipairs(redis.call('SMEMBERS', k_timed_queues())) do
    local cfg = qcfg(q)
    if cfg and cfg.overflow_to and cfg.overflow_after then
      local due = redis.call('ZRANGEBYSCORE', k_queue_enq(q), '-inf', S(now - tonumber(cfg.overflow_after)), 'LIMIT', 0, limit)
      local target = qcfg(cfg.overflow_to)
      for _, tid in ipairs(due) do
        local t = hgetall(k_task(tid))
        if t and target then
          drop_from_queue(tid, q)
          t.sc = score(tonumber(t.prio), tonumber(t.enq), target)
          redis.call('HSET', k_task(tid), 'q', cfg.overflow_to, 'sc', S(t.sc))
          put_in_queue(tid, t, cfg.overflow_to)
          emit('task.overflowed', tid, nil, cfg.overflow_to, {from_queue = q, waited = now - tonumber(t.enq)})
          n = n + 1
        end
      end
    end
    if cfg and cfg.max_wait then
      -- notified tasks stay in the queue: scan on from the last one seen, so that many of
      -- them never hide a newer one
      local mark = redis.call('HGET', k_max_wait_marks(), q)
      local from = '-inf'
      if mark then from = '(' .. mark end
      local due = redis.call('ZRANGEBYSCORE', k_queue_enq(q), from, S(now - tonumber(cfg.max_wait)), 'WITHSCORES', 'LIMIT', 0, limit)
      for i = 1, #due, 2 do
        local tid = due[i]
        if cfg.max_wait_action ~= 'withdraw' then redis.call('HSET', k_max_wait_marks(), q, due[i + 1]) end
        local t = hgetall(k_task(tid))
        if t and t.mw ~= '1' then
          if cfg.max_wait_action == 'withdraw' then
            drop_from_queue(tid, q)
            redis.call('DEL', k_task(tid), k_rejected(tid))
            redis.call('SREM', k_tasks(), tid)
            emit('task.withdrawn', tid, nil, q, {reason = 'max-wait', channel = t.ch, waited = now - tonumber(t.enq)})
          else
            redis.call('HSET', k_task(tid), 'mw', '1')
            emit('task.max_wait_reached', tid, nil, q, {channel = t.ch, waited = now - tonumber(t.enq)})
          end
          n = n + 1
        end
      end
    end
  end
  return n
end

------------------------------------------------------------------ commands
local C = {}

function C.tick()
  local lim = tonumber(args.limit or 200)
  return {rona = expire_offers(lim), wrapups = expire_wraps(lim), waits = expire_waits(lim)}
end

function C.match()
  local limit = tonumber(args.limit or 32)
  local scan = tonumber(args.scan or 32)
  local look = tonumber(args.lookahead or 16)
  local maxexam = tonumber(args.max_examined or (limit * 4 + 64))
  -- k-way merge of the queues in score order (a min-heap of queue heads); a queue is
  -- opened only when its head comes up, so a batch touches the queues it serves
  local QCHUNK = 16
  local qh = redis.call('ZRANGE', K_QWAIT, 0, QCHUNK - 1, 'WITHSCORES')
  local qread = #qh / 2
  local nq = 1
  local heap = {}
  local function hkey(h) return h.buf[h.pos][2] end
  local function hpush(h)
    heap[#heap + 1] = h
    local i = #heap
    while i > 1 do
      local p = math.floor(i / 2)
      if hkey(heap[p]) <= hkey(heap[i]) then break end
      heap[p], heap[i] = heap[i], heap[p]
      i = p
    end
  end
  local function hpop()
    local n = #heap
    if n == 0 then return nil end
    local top = heap[1]
    heap[1] = heap[n]
    heap[n] = nil
    n = n - 1
    local i = 1
    while true do
      local l, r, m = 2 * i, 2 * i + 1, i
      if l <= n and hkey(heap[l]) < hkey(heap[m]) then m = l end
      if r <= n and hkey(heap[r]) < hkey(heap[m]) then m = r end
      if m == i then break end
      heap[m], heap[i] = heap[i], heap[m]
      i = m
    end
    return top
  end
  -- a queue is read 2 tasks at first (a batch mostly takes one task from a queue), then
  -- 8 at a time; what was read also gives the queue's new head at the end of the call
  local function refill(h)
    if h.pos > #h.buf then
      local n = 8
      if h.reads == 0 then n = 2 end
      h.reads = h.reads + 1
      local r = redis.call('ZRANGE', k_queue_wait(h.q), tostring(h.skipped), tostring(h.skipped + n - 1), 'WITHSCORES')
      h.buf, h.pos = {}, 1
      for j = 1, #r, 2 do h.buf[#h.buf + 1] = {r[j], tonumber(r[j + 1]), r[j + 1]} end
      h.eof = #h.buf < n
      if #h.buf == 0 then h.done = true end
    end
  end
  local opened = {}
  local decisions, nomatch, examined = {}, {}, 0
  deferred_heads = {}
  while #decisions < limit and examined < maxexam do
    while true do
      if nq >= #qh then
        if qread % QCHUNK ~= 0 then break end -- the last chunk was short: no more queues
        local more = redis.call('ZRANGE', K_QWAIT, qread, qread + QCHUNK - 1, 'WITHSCORES')
        if #more == 0 then break end
        for _, x in ipairs(more) do qh[#qh + 1] = x end
        qread = qread + #more / 2
      end
      if #heap > 0 and tonumber(qh[nq + 1]) >= hkey(heap[1]) then break end
      local q = qh[nq]
      nq = nq + 2
      local cfg = qcfg(q)
      if cfg and cfg.open then
        local h = {q = q, cfg = cfg, buf = {}, pos = 1, skipped = 0, done = false, reads = 0}
        opened[q] = h
        refill(h)
        if not h.done then hpush(h) end
      end
    end
    local h = hpop()
    if not h then break end
    local entry = h.buf[h.pos]
    local tid = entry[1]
    h.pos = h.pos + 1
    examined = examined + 1
    local res = try_route(tid, h.q, h.cfg, nomatch, scan)
    if res then
      decisions[#decisions + 1] = res
    elseif res == nil then
      if h.skipped == 0 then h.head = entry[3] end -- the first task left behind
      h.skipped = h.skipped + 1
      if h.skipped >= look then h.done = true end
    end
    if not h.done then
      refill(h)
      if not h.done then hpush(h) end
    end
  end
  -- new heads of the queues that lost tasks: known from what was read, unless the
  -- last chunk was used up
  for q, _ in pairs(deferred_heads) do
    local h = opened[q]
    local head = nil
    if h then
      if h.head then head = h.head
      elseif h.pos <= #h.buf then head = h.buf[h.pos][3]
      elseif h.eof then head = false end
    end
    if head then
      redis.call('ZADD', K_QWAIT, head, q)
    elseif head == false then
      redis.call('ZREM', K_QWAIT, q)
    else
      refresh_head(q)
    end
  end
  deferred_heads = nil
  return {offers = decisions, examined = examined}
end

function C.put_queue()
  local cfg = args.queue
  local old = qcfg(cfg.id)
  redis.call('HSET', K_QUEUES, cfg.id, cjson.encode(cfg))
  if cfg.overflow_to or cfg.max_wait then
    redis.call('SADD', k_timed_queues(), cfg.id)
  else
    redis.call('SREM', k_timed_queues(), cfg.id)
  end
  qcache[cfg.id] = cfg
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
    redis.call('HSET', K_QUEUES, args.queue, cjson.encode(cfg))
    if cfg.open then emit('queue.opened', nil, nil, args.queue, {}) else emit('queue.closed', nil, nil, args.queue, {}) end
  end
  return {ok = true}
end

local function enqueue_one(t)
  local cfg = qcfg(t.queue)
  if not cfg then return {err = 'queue_not_found', task = t.id} end
  if not cfg.open and not t.restore then return {err = 'queue_closed', task = t.id} end
  local ok_ch = false
  for _, c in ipairs(cfg.channels or {}) do if c == t.channel then ok_ch = true end end
  if not ok_ch then return {err = 'channel_not_taken', task = t.id} end
  if redis.call('EXISTS', k_task(t.id)) == 1 then return {err = 'task_exists', task = t.id} end
  local sc = score(tonumber(t.priority), tonumber(t.enqueued_at), cfg)
  local rec = {q = t.queue, oq = t.origin_queue or t.queue, ch = t.channel, prio = t.priority, enq = t.enqueued_at,
               sc = sc, sk = cjson.encode(t.skills or {}), st = 'waiting', ag = '',
               cust = cjson.encode(t.customer or {}), attrs = cjson.encode(t.attributes or {}),
               dl = t.deadline or '', nrej = 0, created = now}
  local flat = {}
  for k, v in pairs(rec) do
    flat[#flat + 1] = k
    if type(v) == 'number' then v = S(v) end
    flat[#flat + 1] = v
  end
  redis.call('HSET', k_task(t.id), unpack(flat))
  redis.call('SADD', k_tasks(), t.id)
  if t.assigned_to then
    -- rebuild: work that was in hand when Redis lost its state stays with its agent
    local a = agent(t.assigned_to)
    if a then
      redis.call('HSET', k_task(t.id), 'st', 'assigned', 'ag', t.assigned_to, 'at', NOW, 'ot', NOW,
                 'ex', cjson.encode({restored = true}))
      redis.call('SADD', k_agent_tasks(t.assigned_to), t.id)
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
    redis.call('ZREM', K_OFFERS, tid)
    redis.call('SREM', k_agent_tasks(t.ag), tid)
    local a = agent(t.ag)
    if a then set_load(a, t.ch, -1); sync(a) end
  end
  redis.call('DEL', k_task(tid), k_rejected(tid))
  redis.call('SREM', k_tasks(), tid)
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
    local v = redis.call('HMGET', k_task(tid), 'st', 'ag', 'q', 'ch', 'ot', 'enq', 'ex')
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
      redis.call('ZREM', K_OFFERS, tid)
      redis.call('HSET', k_task(tid), 'st', 'assigned', 'at', NOW, 'ou', '')
      emit('task.accepted', tid, aid, t.q, {channel = t.ch})
      -- the stored explanation is already JSON: spliced in, not decoded and re-encoded
      redis.call('XADD', K_EVENTS, 'MAXLEN', '~', STREAM_MAX, '*', 'e',
        '{"type":"task.assigned","at":' .. NOW .. ',"task_id":' .. cjson.encode(tid) ..
        ',"agent_id":' .. cjson.encode(aid) .. ',"queue_id":' .. cjson.encode(t.q) ..
        ',"payload":{"channel":' .. cjson.encode(t.ch) .. ',"waited":' .. S(tonumber(t.ot) - tonumber(t.enq)) ..
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
    local v = redis.call('HMGET', k_task(tid), 'st', 'ag', 'q', 'ch', 'at')
    local t = nil
    if v[1] then t = {st = v[1], ag = v[2], q = v[3], ch = v[4], at = v[5]} end
    if not t then
      out[#out + 1] = {err = 'task_not_found', task = tid}
    elseif t.st ~= 'assigned' or t.ag ~= aid then
      out[#out + 1] = {err = 'not_assigned', task = tid}
    else
      local cfg = qcfg(t.q) or {}
      local wrap = tonumber(cfg.wrapup or 0)
      redis.call('DEL', k_task(tid), k_rejected(tid))
      redis.call('SREM', k_tasks(), tid)
      redis.call('SREM', k_agent_tasks(aid), tid)
      local handled = now - tonumber(t.at)
      if redis.call('LPUSH', k_handle_times(t.q), S(handled)) > 100 then
        redis.call('LTRIM', k_handle_times(t.q), 0, 49)
      end
      emit('task.completed', tid, aid, t.q, {channel = t.ch, handle_time = handled})
      local a = agent(aid)
      if a then
        if wrap > 0 then
          local m = aid .. '|' .. tid .. '|' .. t.ch
          redis.call('ZADD', k_wraps(), S(now + wrap), m)
          redis.call('SADD', k_agent_wraps(aid), m)
          emit('agent.wrapup_started', tid, aid, t.q, {channel = t.ch, until_at = now + wrap})
        else
          set_load(a, t.ch, -1)
          mark(a, 'idle', NOW)
          sync(a)
        end
      end
      out[#out + 1] = {ok = true, task = tid}
    end
  end
  return out
end

function C.end_wrapup()
  local ms = redis.call('SMEMBERS', k_agent_wraps(args.agent))
  for _, m in ipairs(ms) do end_wrap(m) end
  return {ok = true, ended = #ms}
end

function C.put_agent()
  local x = args.agent
  local a = agent(x.id)
  if a then unsync(a) end
  local sk = cjson.encode(x.skills)
  local cap = cjson.encode(x.capacity)
  local blk = cjson.encode(x.blocks)
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
    redis.call('HSET', k_agent(x.id), unpack(fields))
    redis.call('SADD', k_agents(), x.id)
    acache[x.id] = nil
    a = agent(x.id)
    emit('agent.login', nil, x.id, nil, {presence = pr})
  else
    redis.call('HSET', k_agent(x.id), 'sk', sk, 'cap', cap, 'blk', blk)
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
    for _, tid in ipairs(redis.call('SMEMBERS', k_agent_tasks(a.id))) do
      local t = hgetall(k_task(tid))
      if t and t.st == 'offered' then unoffer(tid, t, a, 'task.rejected', 'agent-logout') end
    end
  end
  set_presence(a, args.presence, args.reason)
  sync(a)
  if args.presence == 'offline' and redis.call('SCARD', k_agent_tasks(a.id)) == 0
      and redis.call('SCARD', k_agent_wraps(a.id)) == 0 then
    unsync(a)
    redis.call('DEL', k_agent(a.id))
    redis.call('SREM', k_agents(), a.id)
    emit('agent.logout', nil, a.id, nil, {})
  end
  return {ok = true}
end

function C.set_priority()
  local tid = args.task
  local t = hgetall(k_task(tid))
  if not t then return {err = 'task_not_found'} end
  local cfg = qcfg(t.q)
  t.sc = score(tonumber(args.priority), tonumber(t.enq), cfg)
  redis.call('HSET', k_task(tid), 'prio', S(args.priority), 'sc', S(t.sc))
  if t.st == 'waiting' then redis.call('ZADD', k_queue_wait(t.q), S(t.sc), tid) end
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
  drop_from_queue(tid, t.q)
  t.sc = score(tonumber(t.prio), tonumber(t.enq), cfg)
  redis.call('HSET', k_task(tid), 'q', args.queue, 'sc', S(t.sc))
  put_in_queue(tid, t, args.queue)
  emit('task.moved', tid, nil, args.queue, {from_queue = t.q})
  return {ok = true}
end

local function acd(keys, argv)
  P, cmd, now = keys[1], argv[1], tonumber(argv[2])
  args = cjson.decode(argv[3])
  strip_nulls(args)
  STREAM_MAX, NOW = argv[4], S(now)
  qcache, acache, AVKEYS, BLOCKED, deferred_heads = {}, {}, {}, {}, nil
  K_EVENTS, K_OFFERS, K_QWAIT, K_QUEUES = k_events(), k_offers(), k_queues_waiting(), k_queues()
  local fn = C[cmd]
  if not fn then return redis.error_reply('unknown ACD command ' .. tostring(cmd)) end
  return cjson.encode(fn())
end

redis.register_function(FUNCTION_NAME, acd)
