"""The agent desktop and the supervisor console in real Chromium, on the real routing
engine: what a person sees and clicks, and what the engine and the database then hold."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from contactcore.acd.model import CustomerContext, TaskSpec
from contactcore.adapters.db.desk import SqlDeskHistory
from contactcore.adapters.redis.stream import RedisStreamTail
from contactcore.errors import Conflict
from contactcore.testing.api_env import ApiEnv
from contactcore.testing.browser import Shots, open_page

pytestmark = pytest.mark.browser


async def test_agent_logs_in_goes_available_accepts_an_offer_and_wraps_up(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    page = await open_page(browser, env, shots, "/desktop", "agent1001")
    await expect(page.locator("#state")).to_have_text("offline")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#state")).to_have_text("available")
    await shots.take(page, "available")

    customer = await env.db.customers.find_by_phone("+12025550101")
    assert customer is not None
    await env.routing.enqueue(
        TaskSpec(
            id="tk_web_chat",
            channel="chat",
            queue="billing",
            customer=CustomerContext(id=customer.id, tier="vip", verified=True),
        )
    )
    card = page.locator('article[data-task-id="tk_web_chat"]')
    await expect(card).to_be_visible()
    await expect(card.locator(".customer-name")).to_have_text("Victoria Hale")
    await expect(card.locator(".customer-tier")).to_have_text("VIP")
    await expect(card.locator(".verified")).to_have_text("Verified")
    await expect(card.locator(".state")).to_have_text("Offered")
    await shots.take(page, "offered")

    await card.get_by_role("button", name="Accept").click()
    await expect(card.locator(".state")).to_have_text("Assigned")
    await expect(page.locator("#state")).to_have_text("busy")
    await shots.take(page, "accepted")

    await card.get_by_role("button", name="Complete").click()
    form = page.locator('form.wrapup[data-task-id="tk_web_chat"]')
    await expect(form).to_be_visible()
    await expect(page.locator("#state")).to_have_text("wrap up")
    await form.get_by_label("Disposition").select_option("resolved")
    await form.get_by_label("Note").fill("explained the invoice")
    await shots.take(page, "wrap-up")
    await form.get_by_role("button", name="Save and finish wrap-up").click()
    await expect(page.locator("#state")).to_have_text("available")
    await expect(form).to_have_count(0)
    await expect(page.locator("#notice")).to_have_text(
        "Wrap-up saved; you are ready for the next task."
    )
    # today's numbers arrive through the history consumer and the live socket
    await expect(page.locator('dd[data-stat="Completed"]')).to_have_text("1")
    await expect(page.locator('dd[data-stat="Accepted"]')).to_have_text("1")
    await shots.take(page, "done")

    stored = await SqlDeskHistory(env.db.engine).events_since(
        0.0, ("task.disposition",), env.ids["agent1001"]
    )
    assert [(e.task_id, e.payload) for e in stored] == [
        ("tk_web_chat", {"disposition": "resolved", "note": "explained the invoice"})
    ]


async def test_supervisor_closes_a_queue_and_desktop_and_routing_follow(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    agent = await open_page(browser, env, shots, "/desktop", "agent1001")
    console = await open_page(browser, env, shots, "/console", "supervisor")
    # a chat waits in billing while the agent is not ready yet
    await env.routing.enqueue(TaskSpec(id="tk_waiting", channel="chat", queue="billing"))
    await expect(console.locator('tr[data-task-id="tk_waiting"]')).to_be_visible()
    # the wallboard's day, in the centre's time zone (the API's)
    await expect(console.locator("#board-day")).to_have_text("(today since 00:00 UTC)")

    billing = console.locator('#queues tr[data-queue="billing"]')
    await expect(billing.locator('[data-cell="status"]')).to_have_text("Open")
    await billing.get_by_role("button", name="Close queue billing").click()
    await expect(billing.locator('[data-cell="status"]')).to_have_text("Closed")
    await shots.take(console, "console-closed")
    # the agent's desktop shows it without a reload (pushed over the WebSocket)
    row = agent.locator('#queues tr[data-queue="billing"]')
    await expect(row.locator("td").first).to_have_text("Closed")

    await agent.get_by_role("button", name="Available").click()
    await expect(agent.locator("#state")).to_have_text("available")
    # routing honours it: nothing in billing is offered, nothing new gets in
    assert await env.routing.route() == []
    work = await env.routing.agent_work(env.ids["agent1001"])
    assert work.tasks == ()
    with pytest.raises(Conflict):
        await env.routing.enqueue(TaskSpec(id="tk_new", channel="chat", queue="billing"))
    await expect(agent.locator("#work .empty")).to_have_text("Nothing offered.")
    await shots.take(agent, "desktop-closed")

    await billing.get_by_role("button", name="Open queue billing").click()
    await expect(row.locator("td").first).to_have_text("Open")
    card = agent.locator('article[data-task-id="tk_waiting"]')
    await expect(card).to_be_visible()  # the waiting chat is offered as soon as it opens
    await expect(console.locator('tr[data-task-id="tk_waiting"]')).to_have_count(0)
    await shots.take(agent, "desktop-offer-after-open")
    audit = console.locator("#audit li")
    await expect(audit.first).to_contain_text("queue.open billing")


async def test_supervisor_gives_an_agent_a_skill_and_a_waiting_task_reaches_them(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    agent = await open_page(browser, env, shots, "/desktop", "agent1002")  # no billing skill
    await agent.get_by_role("button", name="Available").click()
    await expect(agent.locator("#state")).to_have_text("available")
    await env.routing.enqueue(TaskSpec(id="tk_billing", channel="email", queue="billing"))
    console = await open_page(browser, env, shots, "/console", "supervisor")
    await expect(console.locator('tr[data-task-id="tk_billing"]')).to_be_visible()
    assert await env.routing.route() == []  # nobody with the billing skill is available
    await expect(agent.locator("#work .empty")).to_have_text("Nothing offered.")

    row = console.locator('#agents tr[data-agent="agent1002"]')
    skills = row.get_by_label("Skills (name=level 1-10)")
    await expect(skills).to_have_value("english=7, tech_support=8")
    await skills.fill("tech_support=8, english=7, billing=5")
    await shots.take(console, "console-skill-edit")
    await row.get_by_role("button", name="Save").click()
    await expect(console.locator("#notice")).to_have_text("Ben Carter: skills saved.")

    card = agent.locator('article[data-task-id="tk_billing"]')
    await expect(card).to_be_visible()
    await expect(row.locator('[data-cell="tasks"]')).to_have_text("tk_billing")
    await expect(console.locator('tr[data-task-id="tk_billing"]')).to_have_count(0)
    await shots.take(agent, "desktop-offer")
    member = await env.staff.member(env.ids["agent1002"])
    assert member is not None
    assert member.skills == {"tech_support": 8, "english": 7, "billing": 5}


async def test_console_changes_a_waiting_tasks_priority_and_queue(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    console = await open_page(browser, env, shots, "/console", "admin")
    await env.routing.enqueue(TaskSpec(id="tk_a", channel="email", queue="support"))
    await env.routing.enqueue(TaskSpec(id="tk_b", channel="email", queue="support"))
    second = console.locator('tr[data-task-id="tk_b"]')
    await expect(second.locator('[data-cell="position"]')).to_have_text("2")
    await second.get_by_label("Priority of tk_b").fill("50")
    await second.get_by_role("button", name="Set").click()
    await expect(second.locator('[data-cell="position"]')).to_have_text("1")
    await second.get_by_label("Move tk_b to").select_option("general")
    await second.get_by_role("button", name="Move").click()
    await expect(second.locator('[data-cell="queue"]')).to_have_text("general")
    await shots.take(console, "moved")
    [general] = [q for q in await env.routing.live_numbers() if q.queue_id == "general"]
    assert [t.task_id for t in general.tasks] == ["tk_b"]


@pytest.mark.parametrize(
    ("path", "username", "words"),
    [
        ("/console", "agent1001", "This page is for supervisor or admin accounts"),
        ("/desktop", "supervisor", "This page is for agent accounts"),
    ],
)
async def test_each_page_is_for_its_roles(
    browser: Browser, env: ApiEnv, shots: Shots, path: str, username: str, words: str
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda exc: shots.page_errors.append(str(exc)))
    shots.pages.append(page)
    await page.goto(str(env.client.make_url(path)))
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(f"demo-{username}")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_contain_text(words)
    await expect(page.locator("#main")).to_be_hidden()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()


async def test_call_in_hand_offers_transfer_and_callbacks_are_listed(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    """A call is answered on the phone (here: the voice channel's accept); the desktop
    then shows it with a transfer control that calls POST /agents/{id}/transfer with the
    queue. Callback tasks offered to the agent are listed under Callbacks."""
    aid = env.ids["agent1001"]
    member = await env.staff.member(aid)
    assert member is not None
    assert member.capacities.get("callback") == 1  # the demo agents take callbacks
    page = await open_page(browser, env, shots, "/desktop", "agent1001")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#state")).to_have_text("available")
    await env.routing.enqueue(TaskSpec(id="tk_cb", channel="callback", queue="general"))
    callback = page.locator('#callbacks article[data-task-id="tk_cb"]')
    await expect(callback).to_be_visible()
    # like a call, a callback is taken on the phone (which rings first), not by a click
    await expect(callback.locator(".hint")).to_have_text(
        "Your phone is ringing for this callback: answer it and the customer is dialled."
    )
    await expect(callback.get_by_role("button")).to_have_count(0)
    await env.routing.withdraw("tk_cb")
    await expect(page.locator("#callbacks .empty")).to_have_text("No callbacks offered.")

    await env.routing.enqueue(TaskSpec(id="tk_voice", channel="voice", queue="general"))
    call = page.locator('#work article[data-task-id="tk_voice"]')
    await expect(call.locator(".hint")).to_have_text(
        "Your phone is ringing: answer it to take the call."
    )
    await expect(call.get_by_role("button")).to_have_count(0)  # no accept/reject for a call
    await env.routing.accept("tk_voice", aid)  # the phone answered
    await expect(call.locator(".state")).to_have_text("Assigned")
    await call.get_by_label("Transfer to queue").select_option("support")
    await shots.take(page, "call-transfer")
    tail = RedisStreamTail(env.redis, env.redis_prefix)
    await tail.read(10, 1)  # pin the starting point before the click
    async with page.expect_request(lambda r: r.url.endswith("/transfer")) as sent:
        await call.get_by_role("button", name="Transfer").click()
    request = await sent.value
    assert request.method == "POST"
    assert request.url.endswith(f"/api/v1/agents/{aid}/transfer")
    assert request.post_data_json == {"queue": "support"}
    assert request.headers["x-csrf-token"]
    await expect(page.locator("#notice")).to_contain_text("Call transferred to support")
    # the request goes to whichever controller carries the call, over the event stream
    published = [e for e in await tail.read(100, 500) if e.type == "call.transfer_requested"]
    assert [(e.task_id, e.payload["queue"]) for e in published] == [("tk_voice", "support")]


async def test_supervisor_pauses_unpauses_and_logs_out_an_agent(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    agent = await open_page(browser, env, shots, "/desktop", "agent1003")
    await agent.get_by_role("button", name="Available").click()
    await expect(agent.locator("#state")).to_have_text("available")
    console = await open_page(browser, env, shots, "/console", "supervisor")
    row = console.locator('#agents tr[data-agent="agent1003"]')
    await expect(row.locator('[data-cell="state"]')).to_have_text("available")

    await row.get_by_role("button", name="Pause Clara Schmidt", exact=True).click()
    await expect(agent.locator("#state")).to_have_text("not ready")
    await expect(agent.locator("#state-reason")).to_have_text("(supervisor)")
    await expect(row.locator('[data-cell="presence"]')).to_have_text("not ready (supervisor)")
    await shots.take(agent, "paused")
    # paused means no offers
    await env.routing.enqueue(TaskSpec(id="tk_paused", channel="chat", queue="general"))
    assert await env.routing.route() == []

    await row.get_by_role("button", name="Unpause Clara Schmidt").click()
    await expect(agent.locator('article[data-task-id="tk_paused"]')).to_be_visible()
    await (
        agent.locator('article[data-task-id="tk_paused"]')
        .get_by_role("button", name="Reject")
        .click()
    )
    await row.get_by_role("button", name="Log out Clara Schmidt").click()
    await expect(agent.locator("#state")).to_have_text("offline")
    await expect(row.locator('[data-cell="state"]')).to_have_text("offline")
    assert not [a for a in await env.routing.live_agents() if a.agent_id == env.ids["agent1003"]]


async def test_a_started_wrap_up_form_outlives_the_wrap_up_time(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    page = await open_page(browser, env, shots, "/desktop", "agent1004")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#state")).to_have_text("available")
    await env.routing.enqueue(TaskSpec(id="tk_slow", channel="email", queue="general"))
    card = page.locator('article[data-task-id="tk_slow"]')
    await card.get_by_role("button", name="Accept").click()
    await card.get_by_role("button", name="Complete").click()
    form = page.locator('form.wrapup[data-task-id="tk_slow"]')
    await form.get_by_label("Note").fill("customer will send the contract")
    env.clock.advance(11)  # past the queue's 10 s wrap-up: the router ends it
    await expect(page.locator("#state")).to_have_text("available")
    await expect(form.locator(".countdown")).to_have_text("time is up; save anyway")
    await shots.take(page, "wrap-up-time-over")
    await form.get_by_label("Disposition").select_option("follow_up")
    await form.get_by_role("button", name="Save and finish wrap-up").click()
    await expect(form).to_have_count(0)
    stored = await SqlDeskHistory(env.db.engine).events_since(
        0.0, ("task.disposition",), env.ids["agent1004"]
    )
    assert [(e.task_id, e.payload["disposition"], e.payload["note"]) for e in stored] == [
        ("tk_slow", "follow_up", "customer will send the contract")
    ]


async def test_supervisor_asks_why_a_task_went_to_an_agent(
    browser: Browser, env: ApiEnv, shots: Shots
) -> None:
    """Alice refuses an email, Ben takes it; the console tells the story of the task."""
    ann, ben = env.ids["agent1001"], env.ids["agent1002"]
    for username in ("agent1001", "agent1002"):
        page = await open_page(browser, env, shots, "/desktop", username)
        await page.get_by_role("button", name="Available").click()
        await expect(page.locator("#state")).to_have_text("available")
    await env.routing.enqueue(TaskSpec(id="tk_why", channel="email", queue="general"))

    async def offered_to(agent: str) -> bool:
        return [t.task_id for t in (await env.routing.agent_work(agent)).tasks] == ["tk_why"]

    for agent, then in ((ann, "reject"), (ben, "accept")):
        for _ in range(100):
            if await offered_to(agent):
                break
            await asyncio.sleep(0.05)
        if then == "reject":
            await env.routing.reject("tk_why", agent, "on a break")
        else:
            await env.routing.accept("tk_why", agent)
    console = await open_page(browser, env, shots, "/console", "supervisor")
    row = console.locator('#agents tr[data-agent="agent1002"]')
    why = row.get_by_role("button", name="Why tk_why went to Ben Carter")
    await expect(why).to_be_visible()
    # the history consumer stores the assignment in the background
    story = console.locator("#routing-why")
    for _ in range(50):
        await why.click()
        if (await story.text_content() or "").startswith("Went to Ben Carter"):
            break
        await asyncio.sleep(0.1)
    await expect(story).to_contain_text("Went to Ben Carter: longest idle (free since")
    await expect(story).to_contain_text("1 eligible")
    await expect(story).to_contain_text("nobody else was eligible")
    steps = console.locator("#routing-steps li")
    await expect(steps.filter(has_text="refused by Alice Morgan")).to_have_count(1)
    # Alice's offer: Ben was next in line
    await expect(steps.filter(has_text="offered to Alice Morgan")).to_contain_text(
        "next: Ben Carter"
    )
    await expect(console.locator('#routing-steps li[data-type="task.assigned"]')).to_contain_text(
        "assigned to Ben Carter"
    )
    await shots.take(console, "console-routing-story")
