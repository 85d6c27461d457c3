"""The chat panel fragment: members see the conversation's last messages, who is there
and who has read what; everyone else gets a 404, and the workroom and proposal pages
load the fragment only for their conversation's members."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from notifications import chat
from notifications.chat_presence import presence_store
from notifications.models import Conversation
from tests.factories import make_contract, make_proposal, make_user
from tests.notifications.chat_helpers import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def contract_chat(contract) -> Conversation:
    return chat.ensure_conversation(
        contract,
        "contract",
        [contract.client_id, contract.freelancer_id],
        f"Contract: {contract.title}",
    )


def panel_url(subject_type: str, pk: int) -> str:
    return reverse("chat_panel", args=[subject_type, str(pk)])


def test_a_member_sees_messages_presence_receipts_and_the_send_form():
    contract = make_contract()
    client, freelancer = contract.client, contract.freelancer
    client.first_name, client.last_name = "Felix", "Brandt"
    client.save()
    freelancer.first_name, freelancer.last_name = "Ines", "Moreau"
    freelancer.save()
    conversation = contract_chat(contract)
    first = chat.post_message(client, conversation.pk, "Welcome aboard")
    chat.post_message(freelancer, conversation.pk, "Thanks, <b>starting</b> today")
    chat.edit_message(client, first.pk, "Welcome aboard!")
    with_file = chat.post_message(
        freelancer,
        conversation.pk,
        "The brief",
        attachment=SimpleUploadedFile("brief.pdf", b"%PDF-1.4\nbrief", "application/pdf"),
    )
    chat.mark_read(client, conversation.pk, with_file.pk)
    chat.post_message(client, conversation.pk, "Got it, reading now.")
    async_to_sync(presence_store().set)(conversation.pk, client.pk, "test-socket", "away")

    response = browser(freelancer).get(panel_url("marketplace.contract", contract.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-conversation-id="{conversation.pk}"' in html
    assert f'data-ws-path="/ws/chat/{conversation.pk}/"' in html
    messages_url = reverse("conversation-messages", kwargs={"pk": conversation.pk})
    assert f'data-messages-url="{messages_url}"' in html
    assert f'data-user-id="{freelancer.pk}"' in html
    assert "Welcome aboard!" in html
    assert "(edited)" in html
    assert "Thanks, &lt;b&gt;starting&lt;/b&gt; today" in html  # escaped, never markup
    assert reverse("message-attachment", kwargs={"pk": with_file.pk}) in html
    assert "brief.pdf" in html
    assert "Felix Brandt" in html
    assert "Ines Moreau (you)" in html
    assert "<span data-chat-presence>away</span>" in html  # Felix, from the presence store
    assert html.count("<span data-chat-presence>offline</span>") == 1  # Ines: no socket yet
    assert "Seen by Felix Brandt" in html
    assert "1 unread message" in html  # Felix's latest, after Ines's read position
    assert 'name="csrfmiddlewaretoken"' in html
    assert "<script" not in html


def test_the_panel_holds_the_last_thirty_messages_in_order():
    contract = make_contract()
    conversation = contract_chat(contract)
    for number in range(1, 36):
        chat.post_message(contract.client, conversation.pk, f"Note number {number}.")

    html = (
        browser(contract.client)
        .get(panel_url("marketplace.contract", contract.pk))
        .content.decode()
    )

    assert html.count('class="chat-message"') == 30
    assert "Note number 5." not in html
    assert html.index("Note number 6.") < html.index("Note number 35.")
    assert "No unread messages" in html  # all his own


def test_strangers_and_the_parties_of_other_contracts_get_404():
    contract = make_contract()
    contract_chat(contract)
    other = make_contract()
    contract_chat(other)
    url = panel_url("marketplace.contract", contract.pk)

    assert browser(make_user()).get(url).status_code == 404
    assert browser(other.client).get(url).status_code == 404
    assert browser(other.freelancer).get(url).status_code == 404
    assert browser(contract.client).get(panel_url("marketplace.contract", 999999)).status_code == (
        404
    )
    anonymous = Client().get(url)
    assert anonymous.status_code == 302


def test_the_workroom_loads_the_panel_for_its_parties():
    contract = make_contract()
    contract_chat(contract)
    url = panel_url("marketplace.contract", contract.pk)
    workroom = reverse("contract_workroom", args=[contract.pk])

    for party in (contract.client, contract.freelancer):
        html = browser(party).get(workroom).content.decode()
        assert f'hx-get="{url}"' in html
        assert "js/chat.js" in html
    assert browser(make_user()).get(workroom).status_code == 404


def test_the_proposal_page_loads_the_panel_for_client_and_freelancer_only():
    proposal = make_proposal()
    chat.ensure_conversation(proposal, "proposal", [proposal.job.client_id, proposal.freelancer_id])
    url = panel_url("marketplace.proposal", proposal.pk)
    page = reverse("proposal_detail", args=[proposal.pk])

    for member in (proposal.job.client, proposal.freelancer):
        response = browser(member).get(page)
        assert response.status_code == 200
        assert f'hx-get="{url}"' in response.content.decode()
        assert browser(member).get(url).status_code == 200
    stranger = browser(make_user()).get(page)
    assert stranger.status_code == 404 or f'hx-get="{url}"' not in stranger.content.decode()
    assert browser(make_user()).get(url).status_code == 404


def test_the_panel_route_is_private_like_the_cross_user_guard_checks_it():
    """What tests/test_cross_user_access.py does with a ``CHAT_PRIVATE`` entry
    ``"chat_panel": _conversation_subject`` (make_conversation(owner)'s subject)."""
    owner, stranger = make_user(), make_user()
    conversation = make_conversation(owner)
    url = reverse(
        "chat_panel",
        kwargs={"subject_type": conversation.subject_type, "subject_id": conversation.subject_id},
    )
    assert browser(owner).get(url).status_code == 200
    for method in ("get", "post", "patch", "delete"):
        response = getattr(browser(stranger), method)(url)
        assert response.status_code in (404, 405), f"{method.upper()} {url}"
    assert browser(stranger).get(url).status_code == 404
