Feature: What became of each campaign SMS
  As a marketer sending a campaign through Infobip
  I want every message followed from the send to its final delivery report
  So that my campaign reports count deliveries, rejections and failures truthfully

  Background:
    Given the project "acme" runs the campaign "spring-sale"

  Scenario: A message is enqueued, then delivered to the handset
    When a message is sent to "+385921234567"
    Then the message is "enqueued"
    When Infobip reports "DELIVERED_TO_HANDSET"
    Then the message is "delivered"
    And the campaign events are "enqueued, delivered"

  Scenario: Infobip rejects a message immediately
    When a message is sent to "+385921234567"
    And Infobip reports "REJECTED_NETWORK"
    Then the message is "rejected"
    And the campaign events are "enqueued, rejected"
    And the "rejected" event has the error "REJECTED_NETWORK"

  Scenario: Delivery fails later because the number belongs to nobody
    When a message is sent to "+385921234567"
    And Infobip reports "UNDELIVERABLE_NOT_DELIVERED" with the error "EC_UNIDENTIFIED_SUBSCRIBER"
    Then the message is "failed"
    And the "failed" event has the status code 5
    And the "failed" event has the error "EC_UNIDENTIFIED_SUBSCRIBER"
    And the "failed" event has the comment "The number does not exist or it has not been assigned to any active subscriber in the operator's user database."

  Scenario: Infobip refuses the send request
    Given Infobip refuses send requests with HTTP status 400 and "Invalid destination address"
    When a message is sent to "+385921234567"
    Then the message is "enqueue_failed"
    And the campaign events are "enqueue_failed"
    And the "enqueue_failed" event has the status code 400
    And the "enqueue_failed" event has the comment "Invalid destination address"

  Scenario: The same report twice counts once
    When a message is sent to "+385921234567"
    And Infobip reports "DELIVERED_TO_HANDSET"
    And Infobip reports "DELIVERED_TO_HANDSET" again
    Then the message is "delivered"
    And the campaign events are "enqueued, delivered"

  Scenario: A pending report after the delivery changes nothing
    When a message is sent to "+385921234567"
    And Infobip reports "DELIVERED_TO_HANDSET"
    And Infobip reports "PENDING_ENROUTE" from before the delivery
    Then the message is "delivered"
    And the campaign events are "enqueued, delivered"
    And the history records the pending report as "superseded"

  Scenario: The delivery report arrives before the send answer is stored
    Given Infobip's answer to the send request is lost
    When a message is sent to "+385921234567"
    Then the message is "requested"
    When Infobip reports "DELIVERED_TO_HANDSET"
    Then the message is "delivered"
    And the campaign events are "enqueued, delivered"

  Scenario: A German number expects no delivery report
    When a message is sent to "+4915123456789"
    And 4 days pass
    Then the message is "enqueued"
    And its waiting window closed as "no report expected"

  Scenario: A Croatian number whose report never comes, until day 5
    When a message is sent to "+385921234567"
    And 4 days pass
    Then the message is "enqueued"
    And its waiting window closed as "no report received"
    When 1 day passes
    And Infobip reports "DELIVERED_TO_HANDSET"
    Then the message is "delivered"
    And the delivery is marked late

  Scenario: The project gives the campaign event its own name
    When a message is sent to "+385921234567"
    And the project maps the "campaign" event to "sms_status"
    Then the campaign event feed shows events named "sms_status"

  Scenario: A report done after the window closed is late, whenever the window job runs
    When a message is sent to "+385921234567"
    And 5 days pass before the window job runs
    And Infobip reports "DELIVERED_TO_HANDSET"
    Then the message is "delivered"
    And the delivery is marked late

  Scenario: A campaign audited as of a moment, then after it
    When a message is sent to "+385921234567"
    And an hour passes
    And Infobip reports "DELIVERED_TO_HANDSET"
    Then the campaign audited as of half an hour after the send counts 1 "pending"
    And the campaign audited now counts 1 "delivered"
