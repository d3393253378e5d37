-- Identifier pairs that deterministic rules link: a store customer to its canonical
-- email and E.164 phone; an order (guest checkouts included; test orders excluded)
-- to its customer, email and phone; CRM contacts/profiles to their email and phone.
-- Node prefixes choose which identifier names a component (smallest wins):
-- c: store customer < e: email < h: HubSpot < k: Klaviyo < o: order < p: phone.
-- Each source is read once: a record gives one pair per identifier it links to
-- (unnest of the list of them); a NULL identifier gives a pair with a NULL side.
SELECT 'c:shop:' || CAST(customer_id AS VARCHAR) AS node_a,
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164)) AS node_b
FROM models.stg_shop_customers
UNION ALL
SELECT 'o:shop:' || CAST(order_id AS VARCHAR),
       unnest(make_array('c:shop:' || CAST(customer_id AS VARCHAR), 'e:' || email_canonical, 'p:' || phone_e164))
FROM models.stg_shop_orders WHERE NOT is_test
UNION ALL
SELECT 'h:hubspot:' || CAST(contact_id AS VARCHAR),
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164))
FROM models.stg_hubspot_contacts WHERE NOT is_archived
UNION ALL
SELECT 'k:klaviyo:' || profile_id,
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164))
FROM models.stg_klaviyo_profiles
