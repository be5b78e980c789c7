"""Read models of the dashboard pages: overview, people, activity, CRM, models; and the dashboard logins."""
