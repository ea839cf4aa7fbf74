// placeholder, replaced soon
