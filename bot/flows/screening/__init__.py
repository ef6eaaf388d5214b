"""The screening panel's rules: referral, votes and their tally, deadlock and consultation, scrutiny,
the referrer's answer and the National Panel notification (`panel`), and what they tell people
(`notices`)."""
