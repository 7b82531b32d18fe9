"""What to answer a customer: the model, its prompt, the scripted intake, keywords."""
