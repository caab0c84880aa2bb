Feature: No message left behind
  As a marketer whose campaign went out while something broke
  I want every message to end in a definite state
  So that a crash, a lost answer or a lost report never leaves a message "requested" for ever

  Background:
    Given the project "acme" sends through Infobip, whose webhook calls never reach us

  Scenario: A crash leaves a message unsent, and the next round sends it
    Given a message to "+385921234510" was stored, but the service stopped before handing it to Infobip
    When the maintenance round runs
    Then Infobip received the message 1 time
    And the message is "enqueued"
    When the maintenance round runs again
    Then Infobip received the message 1 time

  Scenario: A lost SMS report is settled from Infobip
    When a message is sent to "+385921234510"
    Then the message is "enqueued"
    When Infobip has delivered it, but its report never came
    And the maintenance round runs
    Then the message is "delivered"

  Scenario: A lost MMS report is settled from Infobip's MMS reports
    When an MMS is sent to "+385921234530"
    Then the message is "enqueued"
    When Infobip has delivered it, but its report never came
    And the maintenance round runs
    Then the message is "failed"

  Scenario: A message Infobip never accepted ends enqueue_failed
    When a message is sent to "+385921234595"
    Then the message is "requested"
    When the maintenance round runs 3 times
    Then Infobip was asked to send it 3 times, always under the same id
    And the message is "enqueue_failed"
    And the "enqueue_failed" event has the error "not_accepted_by_provider"
