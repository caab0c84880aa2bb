Feature: Counting message parts before sending
  As a campaign author
  I want to know how many SMS parts my text takes
  So that I know what the campaign will cost before it goes out

  Scenario Outline: Part counts by length and alphabet
    Given a text of <count> times "<character>" and <emoji> emoji
    Then it takes <parts> in <encoding>

    Examples:
      | count | character | emoji | parts   | encoding |
      | 160   | a         | 0     | 1 part  | GSM-7    |
      | 161   | a         | 0     | 2 parts | GSM-7    |
      | 69    | a         | 1     | 2 parts | UCS-2    |
      | 70    | ж         | 0     | 1 part  | UCS-2    |
      | 80    | €         | 0     | 1 part  | GSM-7    |
      | 81    | €         | 0     | 2 parts | GSM-7    |
