Feature: Two-way SMS: replies, consent and list hygiene
  As a marketer I want customers' replies to count: STOP unsubscribes, YES confirms,
  NPS answers are scored, and numbers that do not exist are not paid for twice.

  Background:
    Given the project "acme" sends from the number "+385991234567"
    And "+385921234567" has agreed to "sms_marketing" messages

  Scenario: STOP unsubscribes the customer and answers
    When the campaign "spring" sends a message to "+385921234567"
    And "+385921234567" replies "STOP"
    Then the consent of "+385921234567" to "sms_marketing" is "revoked"
    And an automatic answer saying "unsubscribed" was sent to "+385921234567"
    And the feed shows the reply "STOP" as an "incoming_message" of the campaign "spring"

  Scenario: "stop" in the middle of a sentence is not a STOP
    When the campaign "spring" sends a message to "+385921234567"
    And "+385921234567" replies "I will not stop buying from you"
    Then the consent of "+385921234567" to "sms_marketing" is "granted"
    And no automatic answer was sent

  Scenario: START subscribes again after a STOP
    When "+385921234567" replies "STOP"
    And "+385921234567" replies "START"
    Then the consent of "+385921234567" to "sms_marketing" is "granted"
    And an automatic answer saying "subscribed again" was sent to "+385921234567"

  Scenario: A YES nobody asked for grants nothing
    When "+385921234568" replies "yes please"
    Then the consent of "+385921234568" to "sms_marketing" is "none"
    And no automatic answer was sent
    And the feed shows no consent step for "+385921234568"

  Scenario: Double opt-in confirmed by YES
    When a double opt-in to "sms_news" is requested for "+385921234568"
    Then a confirmation SMS was sent to "+385921234568" from "+385991234567"
    And the consent of "+385921234568" to "sms_news" is "requested"
    When "+385921234568" replies "yes please"
    Then the consent of "+385921234568" to "sms_news" is "granted"
    And the consent of "+385921234568" to "sms_marketing" is "none"
    And an automatic answer saying "confirmed" was sent to "+385921234568"
    And the feed shows the consent steps "consent_requested, consent_granted" for "+385921234568"

  Scenario: The confirmation goes from a number the YES can reach, not from a name
    Given the project's default sender is the name "Acme"
    When a double opt-in to "sms_news" is requested for "+385921234568"
    Then a confirmation SMS was sent to "+385921234568" from "+385991234567"
    When a double opt-in to "sms_news" is requested for "+385921234568" from "Acme"
    Then the request is refused because "cannot receive replies"

  Scenario: Double opt-in without a reply expires
    When a double opt-in to "sms_news" is requested for "+385921234568"
    And 25 hours pass
    Then the consent of "+385921234568" to "sms_news" is "expired"
    And the feed shows the consent steps "consent_requested, consent_expired" for "+385921234568"

  Scenario: A marketing message without consent is refused
    When a "sms_marketing" message is sent to "+385921234569"
    Then the send is refused with "consent_missing"
    And nothing was sent to Infobip
    When a transactional message is sent to "+385921234569"
    Then it was sent

  Scenario: A permanent error blocks the next send until the number is revalidated
    When the campaign "spring" sends a message to "+385921234567"
    And Infobip reports it undeliverable with the permanent error "EC_UNIDENTIFIED_SUBSCRIBER"
    And a transactional message is sent to "+385921234567"
    Then the send is refused with "number_invalid"
    When the number "+385921234567" is revalidated
    And a transactional message is sent to "+385921234567"
    Then it was sent

  Scenario: An NPS reply is scored
    Given the campaign "nps-q4" is an NPS survey
    When the campaign "nps-q4" sends a message to "+385921234567"
    And "+385921234567" replies "9 great service"
    Then the reply is scored 9
    And the audit of "nps-q4" reports an NPS of 100 from 1 response

  Scenario: A reply goes to the campaign of the latest message to that number
    When the campaign "spring" sends a message to "+385921234567"
    And the campaign "summer" sends a message to "+385921234567"
    And "+385921234567" replies "Thanks!"
    Then the feed shows the reply "Thanks!" as an "incoming_message" of the campaign "summer"
    When "+385921234560" replies "Who is this?"
    Then the reply "Who is this?" is recorded without a campaign
